/**
 * The linearizability checker on hand-made register and key-value histories: legal ones must pass,
 * illegal ones (stale reads, lost updates, a timed-out write that appears and then vanishes) must
 * fail with an explanation naming the key and a minimal set of operations. Then a seeded property
 * check: histories generated from a real sequential run (legal by construction) always pass, and
 * the same histories with one read corrupted never do.
 * Replay the property check with LIN_SEED=<seed>.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Model, type Operation, InvalidHistoryError, checkLinearizable } from '../src/sim/linearizability.ts';
import { type KvInput, type KvOutput, type RegisterInput, type RegisterOutput, kvModel, registerModel } from '../src/sim/linearizability-models.ts';
import { Rng } from '../src/raft/rng.ts';

type RegOp = Operation<RegisterInput, RegisterOutput>;
type KvOp = Operation<KvInput, KvOutput>;

const U = undefined; // an unknown outcome: no return time
const w = (client: number, call: number, ret: number | undefined, value: string): RegOp => ({ client, call, return: ret, input: { op: 'write', value }, output: ret === U ? U : {} });
const r = (client: number, call: number, ret: number, value: string | null): RegOp => ({ client, call, return: ret, input: { op: 'read' }, output: { value } });
const cas = (client: number, call: number, ret: number | undefined, from: string | null, to: string, ok?: boolean): RegOp => ({
  client,
  call,
  return: ret,
  input: { op: 'cas', from, to },
  output: ret === U ? U : { ok: ok! },
});

interface RegCase {
  readonly name: string;
  readonly history: RegOp[];
  readonly linearizable: boolean;
  /** For illegal ones: how many operations the minimal explanation holds. */
  readonly minimal?: number;
}

const registerCases: RegCase[] = [
  { name: 'sequential write then read', history: [w(1, 0, 10, 'a'), r(2, 20, 30, 'a')], linearizable: true },
  { name: 'read of the initial value before any write', history: [r(1, 0, 5, null), w(2, 10, 20, 'a')], linearizable: true },
  { name: 'stale read: an older value after a newer write returned', history: [w(1, 0, 10, 'a'), w(1, 20, 30, 'b'), r(2, 40, 50, 'a')], linearizable: false, minimal: 3 },
  { name: 'concurrent read may see the old value', history: [w(1, 0, 10, 'a'), w(1, 20, 40, 'b'), r(2, 25, 35, 'a')], linearizable: true },
  { name: 'concurrent read may see the new value', history: [w(1, 0, 10, 'a'), w(1, 20, 40, 'b'), r(2, 25, 35, 'b')], linearizable: true },
  { name: 'read of a value never written', history: [w(1, 0, 10, 'a'), r(2, 20, 30, 'z')], linearizable: false, minimal: 2 },
  { name: 'acknowledged write lost: read of the initial value after it', history: [w(1, 0, 10, 'a'), r(2, 20, 30, null)], linearizable: false, minimal: 2 },
  { name: 'new-old inversion: two reads during one write', history: [w(1, 0, 100, 'a'), r(2, 10, 20, 'a'), r(3, 30, 40, null)], linearizable: false, minimal: 3 },
  { name: 'timed-out write seen later: it took effect', history: [w(1, 0, 10, 'a'), w(2, 20, U, 'b'), r(3, 50, 60, 'b')], linearizable: true },
  { name: 'timed-out write never seen: it did not take effect', history: [w(1, 0, 10, 'a'), w(2, 20, U, 'b'), r(3, 50, 60, 'a'), r(3, 70, 80, 'a')], linearizable: true },
  { name: 'timed-out write seen, then vanished', history: [w(1, 0, 10, 'a'), w(2, 20, U, 'b'), r(3, 30, 40, 'b'), r(3, 50, 60, 'a')], linearizable: false, minimal: 4 },
  { name: 'timed-out write seen before it was called', history: [w(1, 0, 10, 'a'), r(3, 12, 15, 'b'), w(2, 20, U, 'b')], linearizable: false, minimal: 2 },
  { name: 'timed-out write takes effect late, after a later acknowledged one', history: [w(2, 0, U, 'b'), w(1, 10, 20, 'a'), r(3, 30, 40, 'a'), r(3, 50, 60, 'b')], linearizable: true },
  { name: 'lost update: two CAS from the same value both succeed', history: [w(1, 0, 10, 'a'), cas(2, 20, 40, 'a', 'b', true), cas(3, 20, 40, 'a', 'c', true)], linearizable: false, minimal: 3 },
  { name: 'CAS race: one wins, the other fails', history: [w(1, 0, 10, 'a'), cas(2, 20, 40, 'a', 'b', true), cas(3, 20, 40, 'a', 'c', false), r(1, 50, 60, 'b')], linearizable: true },
  { name: 'CAS that failed although the value matched', history: [w(1, 0, 10, 'a'), cas(2, 20, 30, 'a', 'b', false)], linearizable: false, minimal: 2 },
  { name: 'timed-out CAS: either outcome fits the later read', history: [w(1, 0, 10, 'a'), cas(2, 20, U, 'a', 'b'), r(3, 30, 40, 'a'), r(3, 50, 60, 'b')], linearizable: true },
  { name: 'operations touching at an instant count as concurrent', history: [w(1, 0, 10, 'a'), r(2, 10, 20, null)], linearizable: true },
];

for (const c of registerCases) {
  test(`register: ${c.name} -> ${c.linearizable ? 'linearizable' : 'not linearizable'}`, () => {
    const res = checkLinearizable(registerModel, c.history);
    assert.is(res.verdict, c.linearizable ? 'linearizable' : 'not linearizable', res.verdict === 'not linearizable' ? res.explanation.text : res.verdict);
    if (res.verdict === 'not linearizable' && c.minimal !== undefined) {
      assert.ok(res.explanation.minimal);
      assert.is(res.explanation.operations.length, c.minimal, res.explanation.text);
      // Every operation of the explanation is one of the history's.
      for (const op of res.explanation.operations) assert.ok(c.history.includes(op));
    }
  });
}

// ----- key-value histories -----

const put = (client: number, call: number, ret: number | undefined, key: string, value: string): KvOp => ({ client, call, return: ret, input: { op: 'put', key, value }, output: ret === U ? U : {} });
const get = (client: number, call: number, ret: number, key: string, value: string | null): KvOp => ({ client, call, return: ret, input: { op: 'get', key }, output: { value } });
const kcas = (client: number, call: number, ret: number | undefined, key: string, prev: string | null, value: string, ok?: boolean): KvOp => ({
  client,
  call,
  return: ret,
  input: { op: 'cas', key, prev, value },
  output: ret === U ? U : { ok: ok! },
});
const del = (client: number, call: number, ret: number, key: string, ok: boolean): KvOp => ({ client, call, return: ret, input: { op: 'delete', key }, output: { ok } });

interface KvCase {
  readonly name: string;
  readonly history: KvOp[];
  readonly linearizable: boolean;
  readonly key?: string;
  readonly minimal?: number;
}

const kvCases: KvCase[] = [
  { name: 'independent keys, each sequential', history: [put(1, 0, 10, 'x', '1'), put(2, 0, 10, 'y', '2'), get(3, 20, 30, 'x', '1'), get(3, 20, 30, 'y', '2')], linearizable: true },
  {
    name: 'stale read on one key among several',
    history: [put(1, 0, 10, 'x', '1'), put(2, 0, 10, 'y', '1'), put(1, 20, 30, 'x', '2'), get(2, 15, 25, 'y', '1'), get(3, 40, 50, 'x', '1'), get(3, 40, 50, 'y', '1')],
    linearizable: false,
    key: 'x',
    minimal: 3,
  },
  {
    name: 'lost update: two read-modify-write CAS from the same read both succeed',
    history: [put(1, 0, 10, 'n', '0'), get(2, 20, 30, 'n', '0'), get(3, 20, 30, 'n', '0'), kcas(2, 40, 60, 'n', '0', '1', true), kcas(3, 45, 65, 'n', '0', '1', true)],
    linearizable: false,
    key: 'n',
    minimal: 3,
  },
  {
    name: 'read-modify-write done right: the second CAS fails',
    history: [put(1, 0, 10, 'n', '0'), get(2, 20, 30, 'n', '0'), get(3, 20, 30, 'n', '0'), kcas(2, 40, 60, 'n', '0', '1', true), kcas(3, 45, 65, 'n', '0', '1', false), get(1, 70, 80, 'n', '1')],
    linearizable: true,
  },
  { name: 'acknowledged put lost', history: [put(1, 0, 10, 'k', 'v'), get(2, 20, 30, 'k', null)], linearizable: false, key: 'k', minimal: 2 },
  { name: 'create-only CAS on an absent key', history: [kcas(1, 0, 10, 'k', null, 'a', true), kcas(2, 20, 30, 'k', null, 'b', false), get(1, 40, 50, 'k', 'a')], linearizable: true },
  { name: 'timed-out create seen later', history: [kcas(1, 0, U, 'k', null, 'a'), get(2, 20, 30, 'k', 'a'), get(2, 40, 50, 'k', 'a')], linearizable: true },
  { name: 'delete then get of an absent key', history: [put(1, 0, 10, 'k', 'a'), del(2, 20, 30, 'k', true), get(1, 40, 50, 'k', null), del(2, 60, 70, 'k', false)], linearizable: true },
  { name: 'deleted key comes back', history: [put(1, 0, 10, 'k', 'a'), del(2, 20, 30, 'k', true), get(1, 40, 50, 'k', 'a')], linearizable: false, key: 'k', minimal: 3 },
  {
    name: 'two timed-out puts, reads see both in one order then go back',
    history: [put(1, 0, U, 'k', 'a'), put(2, 0, U, 'k', 'b'), get(3, 10, 20, 'k', 'a'), get(3, 30, 40, 'k', 'b'), get(3, 50, 60, 'k', 'a')],
    linearizable: false,
    key: 'k',
    minimal: 5,
  },
];

for (const c of kvCases) {
  test(`kv: ${c.name} -> ${c.linearizable ? 'linearizable' : 'not linearizable'}`, () => {
    const res = checkLinearizable(kvModel, c.history);
    assert.is(res.verdict, c.linearizable ? 'linearizable' : 'not linearizable', res.verdict === 'not linearizable' ? res.explanation.text : res.verdict);
    if (res.verdict === 'not linearizable') {
      assert.is(res.explanation.key, c.key);
      if (c.minimal !== undefined) assert.is(res.explanation.operations.length, c.minimal, res.explanation.text);
      assert.match(res.explanation.text, `on key "${c.key}"`);
    }
  });
}

test('the explanation names the operations that cannot be ordered', () => {
  const res = checkLinearizable(registerModel, [w(1, 0, 10, 'a'), w(1, 20, 30, 'b'), r(2, 40, 50, 'a'), r(2, 60, 70, 'b')]);
  assert.is(res.verdict, 'not linearizable');
  if (res.verdict !== 'not linearizable') return;
  const text = res.explanation.text;
  assert.match(text, 'client 1 [0, 10] write "a"');
  assert.match(text, 'client 1 [20, 30] write "b"');
  assert.match(text, 'client 2 [40, 50] read -> "a"');
  assert.not.match(text, '[60, 70]'); // not needed to show the violation
});

test('a history too hard for the budget gets the verdict "unknown", not a guess', () => {
  // 24 concurrent writes of distinct values and a final read of a value none wrote: every subset of
  // writes is a distinct configuration before the search can give up.
  const history: RegOp[] = [];
  for (let i = 0; i < 24; i++) history.push(w(i, 0, 1000, `v${i}`));
  history.push(r(99, 0, 1000, 'never'));
  const res = checkLinearizable(registerModel, history, { timeoutMs: 50 });
  assert.is(res.verdict, 'unknown');
  if (res.verdict === 'unknown') assert.match(res.reason, 'time budget');
});

test('a malformed history is refused with a typed error', () => {
  assert.throws(() => checkLinearizable(registerModel, [{ call: 10, return: 5, input: { op: 'read' }, output: { value: null } }]), /before its call/);
  assert.throws(() => checkLinearizable(registerModel, [{ call: Number.NaN, return: 5, input: { op: 'read' }, output: { value: null } }]), /finite number/);
  try {
    checkLinearizable(registerModel, [{ call: 10, return: 5, input: { op: 'read' }, output: { value: null } }]);
  } catch (e) {
    assert.instance(e, InvalidHistoryError);
  }
});

test('a user model: a counter with increments and reads', () => {
  type In = { op: 'inc' } | { op: 'read' };
  const counter: Model<number, In, number | undefined> = {
    init: () => 0,
    step: (s, i, out) => (i.op === 'inc' ? { ok: true, state: s + 1 } : { ok: out === undefined || out === s, state: s }),
    equal: (a, b) => a === b,
  };
  const inc = (call: number, ret: number | undefined): Operation<In, number | undefined> => ({ call, return: ret, input: { op: 'inc' } });
  const read = (call: number, ret: number, v: number): Operation<In, number | undefined> => ({ call, return: ret, input: { op: 'read' }, output: v });
  assert.is(checkLinearizable(counter, [inc(0, 10), inc(5, U), read(20, 30, 2), read(40, 50, 2)]).verdict, 'linearizable');
  assert.is(checkLinearizable(counter, [inc(0, 10), inc(5, 15), read(20, 30, 1)]).verdict, 'not linearizable');
});

// ----- property check on generated histories -----

const SEED = Number(process.env.LIN_SEED ?? 7);
const HISTORIES = 60;

/**
 * A history generated from a real sequential run: each operation takes effect at an instant inside
 * its [call, return] interval, so the history is linearizable by construction. Some operations are
 * timed out (their return is forgotten), some of those never took effect.
 */
function generated(rng: Rng): KvOp[] {
  const keys = ['a', 'b', 'c'];
  let state: ReadonlyMap<string, string> = new Map();
  const ops: { op: KvOp; at: number }[] = [];
  const points: { at: number; call: number; ret: number; input: KvInput; client: number; timedOut: boolean; happens: boolean }[] = [];
  for (let i = 0; i < 40; i++) {
    const call = rng.int(0, 400);
    const at = call + rng.int(0, 20);
    const ret = at + rng.int(0, 20);
    const key = rng.pick(keys);
    const kind = rng.int(0, 4);
    const input: KvInput =
      kind === 0 ? { op: 'put', key, value: `v${i}` } : kind === 1 ? { op: 'cas', key, prev: rng.chance(0.5) ? null : `v${rng.int(0, i + 1)}`, value: `v${i}` } : { op: 'get', key };
    const timedOut = input.op !== 'get' && rng.chance(0.15);
    points.push({ at, call, ret, input, client: i, timedOut, happens: !timedOut || rng.chance(0.5) });
  }
  points.sort((x, y) => x.at - y.at);
  for (const p of points) {
    if (!p.happens) {
      ops.push({ op: { client: p.client, call: p.call, input: p.input }, at: p.at });
      continue;
    }
    const r = kvModel.step(state, p.input, undefined);
    const before = state.get(p.input.key) ?? null;
    state = r.state;
    const output: KvOutput = p.input.op === 'get' ? { value: before } : p.input.op === 'cas' ? { ok: before === p.input.prev } : {};
    ops.push({ op: p.timedOut ? { client: p.client, call: p.call, input: p.input } : { client: p.client, call: p.call, return: p.ret, input: p.input, output }, at: p.at });
  }
  return ops.map((o) => o.op);
}

test(`${HISTORIES} generated legal KV histories pass; each with one read corrupted fails (seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  let corrupted = 0;
  for (let h = 0; h < HISTORIES; h++) {
    const history = generated(rng);
    const ok = checkLinearizable(kvModel, history);
    assert.is(ok.verdict, 'linearizable', `history ${h} of seed ${SEED} (replay: LIN_SEED=${SEED} npm test -- linearizability): ${ok.verdict === 'not linearizable' ? ok.explanation.text : ''}`);
    const reads = history.map((op, i) => ({ op, i })).filter((x) => x.op.input.op === 'get');
    if (reads.length === 0) continue;
    const victim = rng.pick(reads);
    const bad = history.slice();
    bad[victim.i] = { ...victim.op, output: { value: 'never-written' } };
    const res = checkLinearizable(kvModel, bad);
    assert.is(res.verdict, 'not linearizable', `history ${h} of seed ${SEED} with a corrupted read`);
    // The corrupted read is named, its answer needed.
    if (res.verdict === 'not linearizable') {
      assert.ok(res.explanation.operations.includes(bad[victim.i]!));
      assert.not.ok(res.explanation.answerNotNeeded.includes(bad[victim.i]!));
    }
    corrupted++;
  }
  assert.ok(corrupted > HISTORIES / 2);
});

test.run();
