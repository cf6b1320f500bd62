/**
 * The KV state machine of the example: commands and their results, snapshots, malformed input and
 * determinism (every node that applies the same entries reaches the same state).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../src/raft/codec.ts';
import { type KvCommand, KvStateMachine, MAX_KEY_BYTES, decodeCommand, encodeCommand } from '../src/kv/kv-state-machine.ts';

const cases: [string, KvCommand, Record<string, unknown>][] = [
  ['put a new key', { op: 'put', key: 'a', value: '1' }, { ok: true, op: 'put', key: 'a', prev: null }],
  ['put over a key returns the previous value', { op: 'put', key: 'a', value: '2' }, { ok: true, op: 'put', prev: '1' }],
  ['cas with the right prev', { op: 'cas', key: 'a', prev: '2', value: '3' }, { ok: true, op: 'cas', prev: '2' }],
  ['cas with a wrong prev reports the current value', { op: 'cas', key: 'a', prev: '2', value: '9' }, { ok: false, error: 'compare failed', current: '3' }],
  ['create-only cas on an existing key fails', { op: 'cas', key: 'a', prev: null, value: 'x' }, { ok: false, error: 'compare failed', current: '3' }],
  ['create-only cas on a missing key creates it', { op: 'cas', key: 'b', prev: null, value: 'x' }, { ok: true, op: 'cas', prev: null }],
  ['conditional delete with a wrong prev fails', { op: 'delete', key: 'b', prev: 'nope' }, { ok: false, error: 'compare failed', current: 'x' }],
  ['conditional delete with the right prev', { op: 'delete', key: 'b', prev: 'x' }, { ok: true, op: 'delete', prev: 'x' }],
  ['delete of a missing key', { op: 'delete', key: 'b' }, { ok: true, op: 'delete', prev: null }],
  ['cas on a missing key with a prev fails with current null', { op: 'cas', key: 'zz', prev: 'v', value: 'w' }, { ok: false, current: null }],
  ['empty value is a value', { op: 'put', key: 'empty', value: '' }, { ok: true, prev: null }],
  ['unicode keys and values', { op: 'put', key: 'κλειδί/ü', value: '值' }, { ok: true, prev: null }],
  ['delete a', { op: 'delete', key: 'a' }, { ok: true, prev: '3' }],
];

test('a table of commands gives the expected results and state', () => {
  const kv = new KvStateMachine();
  let index = 0;
  for (const [name, cmd, want] of cases) {
    const r = kv.apply(encodeCommand(cmd), ++index) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) assert.equal(r[k], v, `${name}: ${k}`);
    assert.is(r.index, index, `${name}: index`);
  }
  assert.is(kv.get('a'), undefined);
  assert.is(kv.get('b'), undefined);
  assert.is(kv.get('empty'), '');
  assert.is(kv.get('κλειδί/ü'), '值');
  assert.is(kv.get('zz'), undefined);
  assert.equal(kv.keys(), ['empty', 'κλειδί/ü']);
  assert.is(kv.size, 2);
  assert.is(kv.applied, cases.length);
});

test('snapshot and restore round-trip the whole map and the applied index', () => {
  const a = new KvStateMachine();
  for (let i = 0; i < 500; i++) a.apply(encodeCommand({ op: 'put', key: `k${i}`, value: `v${i}`.repeat(i % 7) }), i + 1);
  a.apply(encodeCommand({ op: 'delete', key: 'k3' }), 501);
  const snap = a.snapshot();
  const b = new KvStateMachine();
  b.apply(encodeCommand({ op: 'put', key: 'stale', value: 'gone after restore' }), 1);
  b.restore(snap);
  assert.is(b.get('stale'), undefined);
  assert.is(b.size, 499);
  assert.is(b.get('k42'), a.get('k42'));
  assert.is(b.applied, 501);
  assert.is(b.digest(), a.digest());
  assert.equal([...b.snapshot()], [...snap], 'equal states give equal snapshot bytes');
  // The restored machine keeps going like the original.
  const next = encodeCommand({ op: 'cas', key: 'k10', prev: a.get('k10')!, value: 'new' });
  assert.equal(a.apply(next, 502), b.apply(next, 502));
  assert.is(a.digest(), b.digest());
});

test('restore refuses a snapshot that is not a kv snapshot, and keeps its state', () => {
  const kv = new KvStateMachine();
  kv.apply(encodeCommand({ op: 'put', key: 'x', value: 'y' }), 1);
  for (const bad of [encode({ v: 2, index: 1, entries: [] }), encode({ v: 1, index: 1, entries: [['k', 5]] }), encode('nope')]) {
    assert.throws(() => kv.restore(bad));
    assert.is(kv.get('x'), 'y');
  }
});

const malformed: [string, Uint8Array, RegExp][] = [
  ['not msgpack at all', new Uint8Array([0xc1]), /not msgpack|unknown op|map/],
  ['empty bytes', new Uint8Array(0), /not msgpack|map/],
  ['a string', encode('put a 1'), /must be a map/],
  ['an array', encode(['put', 'a', '1']), /must be a map/],
  ['null', encode(null), /must be a map/],
  ['unknown op', encode({ op: 'incr', key: 'a' }), /unknown op/],
  ['missing key', encode({ op: 'put', value: '1' }), /key must be a string/],
  ['empty key', encode({ op: 'put', key: '', value: '1' }), /must not be empty/],
  ['numeric key', encode({ op: 'put', key: 7, value: '1' }), /key must be a string/],
  ['huge key', encode({ op: 'put', key: 'k'.repeat(MAX_KEY_BYTES + 1), value: '1' }), /longer than/],
  ['missing value', encode({ op: 'put', key: 'a' }), /value must be a string/],
  ['binary value', encode({ op: 'put', key: 'a', value: new Uint8Array([1]) }), /value must be a string/],
  ['cas without prev', encode({ op: 'cas', key: 'a', value: '1' }), /prev must be/],
  ['cas with numeric prev', encode({ op: 'cas', key: 'a', prev: 1, value: '1' }), /prev must be/],
  ['delete with numeric prev', encode({ op: 'delete', key: 'a', prev: 1 }), /prev must be/],
  ['extra field', encode({ op: 'put', key: 'a', value: '1', ttl: 5 }), /unexpected field/],
];

test('malformed commands apply as error results, never throw, and change nothing', () => {
  const kv = new KvStateMachine();
  kv.apply(encodeCommand({ op: 'put', key: 'a', value: 'keep' }), 1);
  const before = kv.digest();
  let index = 1;
  for (const [name, data, reason] of malformed) {
    let r: ReturnType<KvStateMachine['apply']> | undefined;
    try {
      r = kv.apply(data, ++index);
    } catch (err) {
      assert.unreachable(`${name}: apply threw ${(err as Error).message}`);
    }
    assert.ok(r && !r.ok && r.error === 'bad command', `${name}: an error result`);
    if (r && !r.ok && r.error === 'bad command') assert.match(r.reason, reason, name);
    assert.is(kv.digest(), before, `${name}: state unchanged`);
    assert.is(kv.applied, index, `${name}: the entry still counts as applied`);
  }
});

test('encodeCommand refuses what apply would reject, and decodeCommand round-trips', () => {
  assert.throws(() => encodeCommand({ op: 'put', key: '', value: 'x' }), /invalid kv command/);
  assert.throws(() => encodeCommand({ op: 'nope' } as unknown as KvCommand), /unknown op/);
  const cmd: KvCommand = { op: 'cas', key: 'k', prev: null, value: 'v' };
  assert.equal(decodeCommand(encodeCommand(cmd)), cmd);
});

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test('determinism: replicas applying the same log reach the same state and results', () => {
  const rnd = lcg(42);
  const log: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const key = `k${Math.floor(rnd() * 50)}`;
    const r = rnd();
    if (r < 0.4) log.push(encodeCommand({ op: 'put', key, value: `v${Math.floor(rnd() * 5)}` }));
    else if (r < 0.6) log.push(encodeCommand({ op: 'delete', key }));
    else if (r < 0.8) log.push(encodeCommand({ op: 'cas', key, prev: rnd() < 0.3 ? null : `v${Math.floor(rnd() * 5)}`, value: `c${i}` }));
    else if (r < 0.9) log.push(encodeCommand({ op: 'delete', key, prev: `v${Math.floor(rnd() * 5)}` }));
    else log.push(encode({ op: 'put', key, value: i }));
  }
  const replicas = [new KvStateMachine(), new KvStateMachine(), new KvStateMachine()];
  const results = replicas.map((kv) => log.map((data, i) => JSON.stringify(kv.apply(data, i + 1))));
  assert.equal(results[1], results[0]);
  assert.equal(results[2], results[0]);
  assert.is(replicas[1]!.digest(), replicas[0]!.digest());
  assert.equal([...replicas[2]!.snapshot()], [...replicas[0]!.snapshot()]);
  // A replica that restores a snapshot taken midway and applies the rest ends up equal too.
  const mid = new KvStateMachine();
  log.slice(0, 1500).forEach((d, i) => mid.apply(d, i + 1));
  const late = new KvStateMachine();
  late.restore(mid.snapshot());
  log.slice(1500).forEach((d, i) => late.apply(d, 1501 + i));
  assert.is(late.digest(), replicas[0]!.digest());
  assert.is(late.applied, replicas[0]!.applied);
});

test('the digest depends on contents, not on write order', () => {
  const a = new KvStateMachine();
  const b = new KvStateMachine();
  a.apply(encodeCommand({ op: 'put', key: 'x', value: '1' }), 1);
  a.apply(encodeCommand({ op: 'put', key: 'y', value: '2' }), 2);
  b.apply(encodeCommand({ op: 'put', key: 'y', value: '2' }), 1);
  b.apply(encodeCommand({ op: 'put', key: 'x', value: '1' }), 2);
  assert.is(a.digest(), b.digest());
  b.apply(encodeCommand({ op: 'put', key: 'x', value: '11' }), 3);
  assert.is.not(a.digest(), b.digest());
  // Key/value boundaries are part of the digest: ("ab","c") differs from ("a","bc").
  const c = new KvStateMachine();
  const d = new KvStateMachine();
  c.apply(encodeCommand({ op: 'put', key: 'ab', value: 'c' }), 1);
  d.apply(encodeCommand({ op: 'put', key: 'a', value: 'bc' }), 1);
  assert.is.not(c.digest(), d.digest());
});

test.run();
