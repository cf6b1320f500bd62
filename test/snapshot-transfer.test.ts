/**
 * Snapshots in chunks (src/raft/snapshot-transfer.ts, Raft §7): the leader's sender keeps a window
 * of chunks in flight, moves on with acks, starts over from what the follower holds, and resends
 * after a stall with growing patience; the follower's receiver takes exactly the next chunk.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Snapshot } from '../src/raft/raftpb.ts';
import { SnapshotReceiver, SnapshotSender, snapshotSizeRefusal } from '../src/raft/snapshot-transfer.ts';

const meta = { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [] } };
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const snap = (size: number): Snapshot => ({ metadata: meta, data: bytes(size) });

type Step = ['next'] | ['ack', number] | ['beat'];

/** Chunk size 4, window 2; each `next` returns the chunk offsets sent, `beat` whether it resent. */
function send(size: number, steps: readonly Step[]): string[] {
  const s = new SnapshotSender(snap(size), 4, 2, 8);
  const out: string[] = [];
  for (const st of steps) {
    if (st[0] === 'next') out.push(`sent ${s.nextChunks().map((c) => `${c.offset}+${c.data.byteLength}`).join(' ') || '-'}`);
    else if (st[0] === 'ack') s.ack(st[1]);
    else out.push(s.heartbeat() ? 'resend' : 'wait');
  }
  return out;
}

const senderCases: { name: string; size: number; steps: Step[]; want: string[] }[] = [
  { name: 'the window bounds the chunks in flight', size: 20, steps: [['next'], ['next']], want: ['sent 0+4 4+4', 'sent -'] },
  { name: 'an ack opens the window by what it covers', size: 20, steps: [['next'], ['ack', 4], ['next'], ['ack', 12], ['next']], want: ['sent 0+4 4+4', 'sent 8+4', 'sent 12+4 16+4'] },
  { name: 'the last chunk is short', size: 10, steps: [['next'], ['ack', 8], ['next']], want: ['sent 0+4 4+4', 'sent 8+2'] },
  { name: 'an empty snapshot is one empty chunk, sent once', size: 0, steps: [['next'], ['next']], want: ['sent 0+0', 'sent -'] },
  {
    name: 'an ack below what was acked means the follower lost its copy: start again from there',
    size: 20,
    steps: [['next'], ['ack', 8], ['next'], ['ack', 0], ['next']],
    want: ['sent 0+4 4+4', 'sent 8+4 12+4', 'sent 0+4 4+4'],
  },
  {
    name: 'after a stall the unacknowledged chunks are resent, with patience 2, then 4',
    size: 20,
    steps: [['next'], ['ack', 4], ['next'], ['beat'], ['beat'], ['next'], ['beat'], ['beat'], ['beat'], ['beat'], ['next']],
    want: ['sent 0+4 4+4', 'sent 8+4', 'wait', 'resend', 'sent 4+4 8+4', 'wait', 'wait', 'wait', 'resend', 'sent 4+4 8+4'],
  },
  {
    name: 'progress resets the stall count',
    size: 20,
    steps: [['next'], ['beat'], ['ack', 4], ['beat'], ['next']],
    want: ['sent 0+4 4+4', 'wait', 'wait', 'sent 8+4'],
  },
  {
    name: 'all bytes acked but no answer after: the first chunk goes again (the answer was lost)',
    size: 8,
    steps: [['next'], ['ack', 8], ['beat'], ['beat'], ['next']],
    want: ['sent 0+4 4+4', 'wait', 'resend', 'sent 0+4 4+4'],
  },
];

for (const c of senderCases) {
  test(`snapshot sender: ${c.name}`, () => {
    assert.equal(send(c.size, c.steps), c.want);
  });
}

test('snapshot sender: patience doubles up to the cap and stays there', () => {
  const s = new SnapshotSender(snap(20), 4, 2, 8);
  const beatsPerResend: number[] = [];
  for (let r = 0; r < 5; r++) {
    let beats = 1;
    while (!s.heartbeat()) beats++;
    beatsPerResend.push(beats);
  }
  assert.equal(beatsPerResend, [2, 4, 8, 8, 8]);
});

test('snapshot sender: chunks are views of the snapshot, never copies', () => {
  const sn = snap(12);
  const [c] = new SnapshotSender(sn, 4, 1).nextChunks();
  assert.is(c!.data.buffer, sn.data.buffer);
});

test('snapshot receiver: takes exactly the next chunk, refuses duplicates, gaps, empties and overruns', () => {
  const r = new SnapshotReceiver(1, 2, meta, 10);
  const table: [number, number, boolean][] = [
    [4, 4, false], // a gap
    [0, 4, true],
    [0, 4, false], // a duplicate
    [4, 0, false], // empty
    [4, 7, false], // past the declared size
    [4, 4, true],
    [8, 2, true],
  ];
  for (const [offset, len, taken] of table) assert.is(r.accept(offset, bytes(12).subarray(offset, offset + len)) !== undefined, taken, `chunk ${offset}+${len}`);
  assert.ok(r.complete());
  assert.equal([...r.snapshot().data], [...bytes(10)]);
});

test('snapshot receiver: a taken chunk is a copy, so the network frame it came in may be reused', () => {
  const frame = bytes(4);
  const r = new SnapshotReceiver(1, 2, meta, 4);
  const kept = r.accept(0, frame)!;
  frame.fill(0);
  assert.equal([...kept], [...bytes(4)]);
  assert.equal([...r.snapshot().data], [...bytes(4)]);
});

test('snapshot receiver: staging mode counts chunks without keeping them', () => {
  const r = new SnapshotReceiver(1, 2, meta, 8, false);
  assert.ok(r.accept(0, bytes(4)));
  assert.ok(r.accept(4, bytes(4)));
  assert.ok(r.complete());
  const { data } = r.snapshot();
  assert.is(data.byteLength, 8, 'the size is known');
  assert.ok(data.every((b) => b === 0), 'but no byte was kept');
});

test('snapshot receiver: a chunk belongs to the transfer only with the same sender, term, snapshot and size', () => {
  const r = new SnapshotReceiver(1, 2, meta, 10);
  const table: [number, number, typeof meta, number, boolean][] = [
    [1, 2, meta, 10, true],
    [3, 2, meta, 10, false],
    [1, 3, meta, 10, false],
    [1, 2, { ...meta, index: 11 }, 10, false],
    [1, 2, { ...meta, term: 1 }, 10, false],
    [1, 2, meta, 11, false],
  ];
  for (const [from, term, m, size, same] of table) assert.is(r.matches(from, term, m, size), same, JSON.stringify([from, term, m.index, m.term, size]));
});

test('snapshotSizeRefusal: a declared size is refused when it is not a byte count or over the cap', () => {
  const table: [number, number, boolean][] = [
    [0, 100, false],
    [100, 100, false],
    [101, 100, true],
    [-1, 100, true],
    [1.5, 100, true],
    [Number.NaN, 100, true],
    [2 ** 60, 2 ** 62, true],
  ];
  for (const [declared, cap, refused] of table) assert.is(snapshotSizeRefusal(declared, cap) !== undefined, refused, `${declared} of ${cap}`);
});

test.run();
