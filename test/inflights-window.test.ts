/**
 * Inflights (the leader's window of appends in flight to one follower): its exact boundaries and
 * its ring order, as tables. Complements inflights.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Inflights } from '../src/raft/inflights.ts';

test('window boundaries: exactly the capacity or the byte budget closes it; an ack frees up to and including its index', () => {
  const cases: [string, number, number, [number, number][], number | undefined, { count: number; bytes: number; full: boolean }][] = [
    ['one below capacity', 3, Infinity, [[1, 1], [2, 1]], undefined, { count: 2, bytes: 2, full: false }],
    ['at capacity', 3, Infinity, [[1, 1], [2, 1], [3, 1]], undefined, { count: 3, bytes: 3, full: true }],
    ['one byte below the budget', 10, 100, [[1, 99]], undefined, { count: 1, bytes: 99, full: false }],
    ['exactly the budget', 10, 100, [[1, 60], [2, 40]], undefined, { count: 2, bytes: 100, full: true }],
    ['ack of an exact index frees it', 10, Infinity, [[5, 1], [6, 2], [7, 4]], 6, { count: 1, bytes: 4, full: false }],
    ['ack below every index frees nothing', 10, Infinity, [[5, 1], [6, 2]], 4, { count: 2, bytes: 3, full: false }],
  ];
  for (const [name, capacity, maxBytes, adds, ack, want] of cases) {
    const w = new Inflights(capacity, maxBytes);
    for (const [index, bytes] of adds) w.add(index, bytes);
    if (ack !== undefined) w.freeLE(ack);
    assert.equal({ count: w.count, bytes: w.bytes, full: w.full() }, want, name);
  }
});

test('the ring keeps order across many wrap-arounds', () => {
  const w = new Inflights(3);
  let next = 1;
  let acked = 0;
  for (let round = 0; round < 10; round++) {
    while (!w.full()) w.add(next++, 1);
    acked += 2;
    w.freeLE(acked);
    assert.is(w.count, next - 1 - acked, `round ${round}`);
    w.freeFirstOne();
    acked += 1;
    assert.is(w.count, next - 1 - acked, `round ${round}: freeFirstOne freed exactly index ${acked}`);
  }
});

test.run();
