import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Inflights } from '../src/raft/inflights.ts';

test('fills to capacity and frees up to an acked index, wrapping around', () => {
  const w = new Inflights(4);
  for (const i of [10, 20, 30, 40]) w.add(i, 1);
  assert.ok(w.full());
  assert.throws(() => w.add(50, 1), /full/);
  w.freeLE(25);
  assert.is(w.count, 2);
  assert.not.ok(w.full());
  w.add(50, 1);
  w.add(60, 1); // wraps in the ring
  assert.ok(w.full());
  w.freeLE(55);
  assert.is(w.count, 1);
  w.freeLE(1000);
  assert.is(w.count, 0);
});

test('a byte budget also closes the window', () => {
  const w = new Inflights(100, 1000);
  w.add(1, 600);
  assert.not.ok(w.full());
  w.add(2, 500);
  assert.ok(w.full());
  w.freeLE(1);
  assert.is(w.bytes, 500);
  assert.not.ok(w.full());
});

test('freeFirstOne frees only the oldest append', () => {
  const w = new Inflights(3);
  w.add(5, 1);
  w.add(6, 1);
  w.add(7, 1);
  w.freeFirstOne();
  assert.is(w.count, 2);
  w.freeLE(6);
  assert.is(w.count, 1);
  w.reset();
  assert.is(w.count, 0);
  w.freeFirstOne();
  assert.is(w.count, 0);
});

test.run();
