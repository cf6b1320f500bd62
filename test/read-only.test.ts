/**
 * The ReadIndex bookkeeping of a leader (src/raft/read-only.ts, thesis §6.4): a read is confirmed
 * once a majority of voters acked a heartbeat round carrying its context, and confirming one
 * confirms every read queued before it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadOnly, contextKey } from '../src/raft/read-only.ts';

const ctx = (s: string) => new TextEncoder().encode(s);
const name = (c: Uint8Array) => new TextDecoder().decode(c);

type Step = ['add', string, number] | ['ack', number, string];

/** Node 1 leads; each `ack` returns the names of the reads it confirmed, joined. */
function run(voters: number[], steps: readonly Step[]): { confirmed: string[]; left: number } {
  const ro = new ReadOnly();
  const confirmed: string[] = [];
  for (const s of steps) {
    if (s[0] === 'add') ro.add(1, 1, s[2], ctx(s[1]));
    else confirmed.push(ro.ack(s[1], ctx(s[2]), voters).map((r) => `${name(r.context)}@${r.index}`).join(','));
  }
  return { confirmed, left: ro.size };
}

const cases: { name: string; voters: number[]; steps: Step[]; confirmed: string[]; left: number }[] = [
  { name: 'one ack with the leader’s own is a majority of 3', voters: [1, 2, 3], steps: [['add', 'a', 7], ['ack', 2, 'a']], confirmed: ['a@7'], left: 0 },
  { name: 'of 5 voters, one ack is not enough; two are', voters: [1, 2, 3, 4, 5], steps: [['add', 'a', 7], ['ack', 2, 'a'], ['ack', 3, 'a']], confirmed: ['', 'a@7'], left: 0 },
  { name: 'the same voter acking twice counts once', voters: [1, 2, 3, 4, 5], steps: [['add', 'a', 7], ['ack', 2, 'a'], ['ack', 2, 'a']], confirmed: ['', ''], left: 1 },
  { name: 'acks from non-voters (learners) do not count', voters: [1, 2, 3], steps: [['add', 'a', 7], ['ack', 9, 'a']], confirmed: [''], left: 1 },
  { name: 'an ack for an unknown context confirms nothing', voters: [1, 2, 3], steps: [['add', 'a', 7], ['ack', 2, 'zz']], confirmed: [''], left: 1 },
  {
    name: 'confirming a later read confirms every earlier one, in order',
    voters: [1, 2, 3],
    steps: [['add', 'a', 5], ['add', 'b', 6], ['add', 'c', 8], ['ack', 3, 'b']],
    confirmed: ['a@5,b@6'],
    left: 1,
  },
  {
    name: 'a read already confirmed by a later round answers nothing when its own ack comes late',
    voters: [1, 2, 3],
    steps: [['add', 'a', 5], ['add', 'b', 6], ['ack', 2, 'b'], ['ack', 2, 'a']],
    confirmed: ['a@5,b@6', ''],
    left: 0,
  },
];

for (const c of cases) {
  test(`read-only: ${c.name}`, () => {
    assert.equal(run(c.voters, c.steps), { confirmed: c.confirmed, left: c.left });
  });
}

test('read-only: clear drops every pending read (leadership ended)', () => {
  const ro = new ReadOnly();
  ro.add(1, 1, 3, ctx('a'));
  ro.add(1, 2, 4, ctx('b'));
  ro.clear();
  assert.is(ro.size, 0);
  assert.equal(ro.ack(2, ctx('a'), [1, 2, 3]), []);
});

test('read-only: the read remembers who asked, so a forwarded read is answered to the follower', () => {
  const ro = new ReadOnly();
  ro.add(1, 3, 9, ctx('f'));
  const [r] = ro.ack(2, ctx('f'), [1, 2, 3]);
  assert.is(r?.from, 3);
  assert.is(r?.index, 9);
});

test('read-only: a context key depends on the bytes only, not on the buffer they sit in', () => {
  const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
  assert.is(contextKey(big.subarray(2, 5)), contextKey(Uint8Array.of(1, 2, 3)));
  assert.is.not(contextKey(Uint8Array.of(1, 2, 3)), contextKey(Uint8Array.of(1, 2, 4)));
});

test.run();
