/**
 * Membership changes as log entries (src/raft/confchange.ts): the encoding every node decodes when
 * it applies a ConfChange entry, the refusal of anything that is not one, and the log a founding
 * member starts with.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encode } from '../src/raft/codec.ts';
import { bootstrapEntries, decodeConfChange, encodeConfChange } from '../src/raft/confchange.ts';
import { type ConfChange, ConfChangeType, EntryType } from '../src/raft/raftpb.ts';

const text = (s: string) => new TextEncoder().encode(s);

test('confchange: every kind of change round-trips through its entry data', () => {
  const table: ConfChange[] = [
    { type: ConfChangeType.AddNode, nodeId: 1, context: text('127.0.0.1:7001') },
    { type: ConfChangeType.RemoveNode, nodeId: 7, context: new Uint8Array(0) },
    { type: ConfChangeType.AddLearnerNode, nodeId: 2 ** 40, context: text('[::1]:9000') },
  ];
  for (const cc of table) {
    const back = decodeConfChange(encodeConfChange(cc));
    assert.is(back.type, cc.type);
    assert.is(back.nodeId, cc.nodeId);
    assert.equal([...back.context], [...cc.context]);
  }
});

test('confchange: the entry data is a msgpack map of type, nodeId and context (the replicated log format)', () => {
  const cc: ConfChange = { type: ConfChangeType.AddNode, nodeId: 3, context: text('h:1') };
  assert.equal([...encodeConfChange(cc)], [...encode({ type: cc.type, nodeId: 3, context: cc.context })]);
});

test('confchange: data that is not a valid ConfChange is refused with an error, never half-decoded', () => {
  const table: { name: string; data: Uint8Array }[] = [
    { name: 'not msgpack at all', data: Uint8Array.of(0xc1) },
    { name: 'a string', data: encode('AddNode 3') },
    { name: 'an unknown type', data: encode({ type: 99, nodeId: 3 }) },
    { name: 'no node id', data: encode({ type: ConfChangeType.AddNode }) },
    { name: 'node id 0', data: encode({ type: ConfChangeType.AddNode, nodeId: 0 }) },
    { name: 'a negative node id', data: encode({ type: ConfChangeType.AddNode, nodeId: -2 }) },
    { name: 'a fractional node id', data: encode({ type: ConfChangeType.AddNode, nodeId: 1.5 }) },
    { name: 'a node id past 2^53', data: encode({ type: ConfChangeType.AddNode, nodeId: 2 ** 60 }) },
    { name: 'a node id as text', data: encode({ type: ConfChangeType.AddNode, nodeId: '3' }) },
  ];
  for (const c of table) assert.throws(() => decodeConfChange(c.data), undefined, c.name);
});

test('confchange: a missing or non-binary context decodes as empty', () => {
  for (const context of [undefined, 'h:1', 42]) {
    const cc = decodeConfChange(encode({ type: ConfChangeType.RemoveNode, nodeId: 4, ...(context === undefined ? {} : { context }) }));
    assert.is(cc.context.byteLength, 0, JSON.stringify(context));
  }
});

test('confchange: a founding member starts with AddNode for every member, sorted by id, at term 1', () => {
  const entries = bootstrapEntries([
    { id: 3, address: 'c:3' },
    { id: 1, address: 'a:1' },
    { id: 2, address: 'b:2' },
  ]);
  assert.equal(
    entries.map((e) => [e.index, e.term, e.type]),
    [
      [1, 1, EntryType.ConfChange],
      [2, 1, EntryType.ConfChange],
      [3, 1, EntryType.ConfChange],
    ],
  );
  assert.equal(
    entries.map((e) => {
      const cc = decodeConfChange(e.data);
      return [cc.type, cc.nodeId, new TextDecoder().decode(cc.context)];
    }),
    [
      [ConfChangeType.AddNode, 1, 'a:1'],
      [ConfChangeType.AddNode, 2, 'b:2'],
      [ConfChangeType.AddNode, 3, 'c:3'],
    ],
  );
  assert.equal(bootstrapEntries([]), []);
});

test.run();
