import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Packr } from 'msgpackr';
import { InvalidMessageError } from '../src/errors.ts';
import { validateMessage, validatePeerMessage } from '../src/io/message-validation.ts';
import { decodeMessage, encodeMessage } from '../src/io/wire.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import type { Message } from '../src/raft/raftpb.ts';

const bytes = (...b: number[]) => new Uint8Array(b);

const goodMessages: [string, Message][] = [
  ['empty heartbeat', message({ type: MessageType.MsgHeartbeat, to: 2, from: 1, term: 3, commit: 7 })],
  [
    'append with entries',
    message({
      type: MessageType.MsgApp,
      to: 2,
      from: 1,
      term: 5,
      logTerm: 4,
      index: 10,
      commit: 9,
      entries: [
        { term: 5, index: 11, type: EntryType.Normal, data: bytes(1, 2, 3) },
        { term: 5, index: 12, type: EntryType.ConfChange, data: bytes() },
      ],
    }),
  ],
  ['rejecting append response', message({ type: MessageType.MsgAppResp, to: 1, from: 2, term: 5, index: 10, reject: true, rejectHint: 8 })],
  [
    'snapshot',
    message({
      type: MessageType.MsgSnap,
      to: 3,
      from: 1,
      term: 9,
      snapshot: { data: bytes(9, 9), metadata: { index: 100, term: 8, confState: { voters: [1, 2, 3], learners: [4] } } },
    }),
  ],
  ['read index with context', message({ type: MessageType.MsgReadIndex, to: 1, from: 2, context: bytes(0xde, 0xad) })],
  ['largest values (terms and indexes at the 2^48 bound, ids at 2^53 − 1)', message({ type: MessageType.MsgVote, to: Number.MAX_SAFE_INTEGER, from: 2, term: 2 ** 48, index: 2 ** 48, commit: 2 ** 48 })],
];

for (const [name, msg] of goodMessages) {
  test(`valid: ${name} passes and round-trips through the wire codec`, () => {
    assert.equal(toPlain(validateMessage(msg)), toPlain(msg));
    assert.equal(toPlain(decodeMessage(encodeMessage(msg))), toPlain(msg));
  });
}

/** Uint8Array vs Buffer compare alike: reduce both to arrays of numbers. */
function toPlain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

const base = goodMessages[1]![1];
const entry0 = base.entries[0]!;
const snapBase = goodMessages[3]![1];

const badInputs: [string, unknown, RegExp][] = [
  ['null', null, /message must be an object/],
  ['a number', 42, /message must be an object/],
  ['an array', [3, 2, 1], /message must be an object/],
  ['bytes', bytes(1, 2), /message must be an object/],
  ['missing type', { ...base, type: undefined }, /message\.type/],
  ['type as string', { ...base, type: '3' }, /message\.type/],
  ['type out of range', { ...base, type: 20 }, /MessageType/],
  ['negative type', { ...base, type: -1 }, /message\.type/],
  ['missing to', { ...base, to: undefined }, /message\.to/],
  ['negative from', { ...base, from: -1 }, /message\.from/],
  ['fractional term', { ...base, term: 1.5 }, /message\.term/],
  ['unsafe index', { ...base, index: 2 ** 53 }, /message\.index/],
  ['NaN commit', { ...base, commit: Number.NaN }, /message\.commit/],
  ['Infinity logTerm', { ...base, logTerm: Infinity }, /message\.logTerm/],
  ['bigint term', { ...base, term: 5n }, /message\.term/],
  ['term above the bound', { ...base, term: 2 ** 48 + 1 }, /message\.term .* above the bound 2\^48/],
  ['term 2^53 − 1', { ...base, term: Number.MAX_SAFE_INTEGER }, /message\.term .* above the bound/],
  ['commit above the bound', { ...base, commit: 2 ** 60 }, /message\.commit/],
  ['rejectHint above the bound', { ...base, rejectHint: 2 ** 48 + 1 }, /message\.rejectHint/],
  ['entry index above the bound', { ...base, entries: [{ ...entry0, index: 2 ** 48 + 1 }] }, /entries\[0\]\.index .* above the bound/],
  ['reject as number', { ...base, reject: 1 }, /message\.reject/],
  ['missing reject', { ...base, reject: undefined }, /message\.reject/],
  ['string rejectHint', { ...base, rejectHint: '0' }, /message\.rejectHint/],
  ['entries not an array', { ...base, entries: {} }, /message\.entries/],
  ['missing entries', { ...base, entries: undefined }, /message\.entries/],
  ['entry is null', { ...base, entries: [null] }, /entries\[0\]/],
  ['entry missing data', { ...base, entries: [{ ...entry0, data: undefined }] }, /entries\[0\]\.data/],
  ['entry data as string', { ...base, entries: [{ ...entry0, data: 'abc' }] }, /entries\[0\]\.data/],
  ['entry data as number array', { ...base, entries: [{ ...entry0, data: [1, 2] }] }, /entries\[0\]\.data/],
  ['entry type 2', { ...base, entries: [entry0, { ...entry0, type: 2 }] }, /entries\[1\]\.type/],
  ['entry negative index', { ...base, entries: [{ ...entry0, index: -3 }] }, /entries\[0\]\.index/],
  ['entry unsafe term', { ...base, entries: [{ ...entry0, term: 2 ** 60 }] }, /entries\[0\]\.term/],
  ['snapshot not an object', { ...snapBase, snapshot: 7 }, /message\.snapshot/],
  ['snapshot without metadata', { ...snapBase, snapshot: { data: bytes() } }, /snapshot\.metadata/],
  [
    'snapshot voter 0',
    { ...snapBase, snapshot: { ...snapBase.snapshot!, metadata: { ...snapBase.snapshot!.metadata, confState: { voters: [0], learners: [] } } } },
    /voters\[0\]/,
  ],
  [
    'snapshot learners missing',
    { ...snapBase, snapshot: { ...snapBase.snapshot!, metadata: { ...snapBase.snapshot!.metadata, confState: { voters: [1] } } } },
    /learners/,
  ],
  ['snapshot data as string', { ...snapBase, snapshot: { ...snapBase.snapshot!, data: 'x' } }, /snapshot\.data/],
  ['context as string', { ...base, context: 'ctx' }, /message\.context/],
  ['context as Uint16Array', { ...base, context: new Uint16Array(2) }, /message\.context/],
];

test('invalid: every bad input is rejected with InvalidMessageError naming the field', () => {
  for (const [name, value, field] of badInputs) {
    assert.throws(
      () => validateMessage(value),
      (e: unknown) => e instanceof InvalidMessageError && field.test(e.message),
      name,
    );
  }
});

test('peer rules: sender must be the authenticated peer, receiver must be us, no local-only kinds', () => {
  const ok = message({ type: MessageType.MsgHeartbeat, from: 2, to: 1, term: 3 });
  const entry = (index: number, term: number) => ({ index, term, type: 0 as const, data: new Uint8Array(0) });
  const app = message({ type: MessageType.MsgApp, from: 2, to: 1, term: 3, index: 5, logTerm: 2, entries: [entry(6, 2), entry(7, 3)] });
  assert.is(validatePeerMessage(app, { from: 2, to: 1 }).entries.length, 2);
  assert.is(validatePeerMessage({ ...ok, type: MessageType.MsgProp, term: 0 }, { from: 2, to: 1 }).term, 0, 'forwarded proposals carry term 0');
  assert.is(validatePeerMessage(ok, { from: 2, to: 1 }).from, 2);
  const cases: [string, Message, RegExp][] = [
    ['spoofed sender', { ...ok, from: 3 }, /authenticated as node 2/],
    ['not for us', { ...ok, to: 5 }, /this node is 1/],
    ['MsgHup from the network', { ...ok, type: MessageType.MsgHup }, /local/],
    ['MsgBeat from the network', { ...ok, type: MessageType.MsgBeat }, /local/],
    ['MsgUnreachable from the network', { ...ok, type: MessageType.MsgUnreachable }, /local/],
    ['MsgCheckQuorum from the network', { ...ok, type: MessageType.MsgCheckQuorum }, /local/],
    ['term 0 heartbeat (would skip the term rules)', { ...ok, term: 0 }, /term 0/],
    ['term 0 append', { ...app, term: 0, entries: [] }, /term 0/],
    ['append entries not numbered after index', { ...app, entries: [entry(7, 2)] }, /index must be 6/],
    ['append entry term going back', { ...app, entries: [entry(6, 3), entry(7, 2)] }, /below the term before it/],
    ['append entry term before logTerm', { ...app, entries: [entry(6, 1)] }, /below the term before it/],
    ['append entry term after the message term', { ...app, entries: [entry(6, 4)] }, /after the message's term/],
  ];
  for (const [name, msg, why] of cases) {
    assert.throws(() => validatePeerMessage(msg, { from: 2, to: 1 }), (e: unknown) => e instanceof InvalidMessageError && why.test(e.message), name);
  }
});

test('binary fields are copied: changing the input afterwards does not change the message', () => {
  const data = bytes(1, 2, 3);
  const ctx = bytes(7);
  const out = validateMessage({ ...base, entries: [{ ...entry0, data }], context: ctx });
  data[0] = 99;
  ctx[0] = 99;
  assert.equal([...out.entries[0]!.data], [1, 2, 3]);
  assert.equal([...out.context!], [7]);
  assert.ok(!(out.entries[0]!.data instanceof Buffer), 'plain Uint8Array, not a Buffer view');
});

test('decoded messages do not alias the frame they came from', () => {
  const frame = Buffer.from(encodeMessage(base));
  const out = decodeMessage(frame);
  frame.fill(0);
  assert.equal([...out.entries[0]!.data], [1, 2, 3]);
  assert.is.not(out.entries[0]!.data.buffer, frame.buffer);
});

test('unknown extra fields are not carried into the result', () => {
  const out = validateMessage({ ...base, evil: 'x', __proto__: { polluted: true } }) as unknown as Record<string, unknown>;
  assert.is(out.evil, undefined);
  assert.is(out.polluted, undefined);
});

test('wire decoding rejects bodies that are not message tuples', () => {
  const p = new Packr({ useRecords: false });
  const cases: [string, Uint8Array][] = [
    ['empty body', new Uint8Array(0)],
    ['garbage', bytes(0xc1, 0xc1)],
    ['a map', p.pack({ type: 3 })],
    ['short tuple', p.pack([3, 2, 1])],
    ['tuple with bad entry', p.pack([3, 2, 1, 1, 1, 1, 1, false, 0, [[1, 2]]])],
    ['truncated tuple', Buffer.from(encodeMessage(base)).subarray(0, 20)],
    ['trailing junk', Buffer.concat([encodeMessage(base), bytes(1)])],
  ];
  for (const [name, body] of cases) assert.throws(() => decodeMessage(body), (e: unknown) => e instanceof InvalidMessageError, name);
});

test.run();
