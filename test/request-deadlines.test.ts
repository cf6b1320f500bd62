/**
 * The HTTP server's request deadlines (src/kv/request-deadlines.ts): one sweep for every request
 * instead of a timer each. Driven by a clock the test moves; `sweep()` is what the timer calls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RequestDeadlines } from '../src/kv/request-deadlines.ts';

function withClock(timeoutMs: number) {
  let now = 0;
  const d = new RequestDeadlines(timeoutMs, () => now);
  return { d, at: (t: number) => (now = t) };
}

const cases: { name: string; run: () => void }[] = [
  {
    name: 'a request is aborted with a TimeoutError once its timeout has passed, not before',
    run() {
      const { d, at } = withClock(100);
      const r = d.start();
      at(99);
      d.sweep();
      assert.is(r.signal.aborted, false, 'still within its time');
      at(100);
      d.sweep();
      assert.is(r.signal.aborted, true);
      assert.is((r.signal.reason as Error).name, 'TimeoutError', 'the reason the HTTP error table answers with 504');
      d.close();
    },
  },
  {
    name: 'a request that ended is never aborted',
    run() {
      const { d, at } = withClock(100);
      const r = d.start();
      r.done();
      at(1000);
      d.sweep();
      assert.is(r.signal.aborted, false);
      assert.is(d.size, 0);
    },
  },
  {
    name: 'the sweep aborts the old requests and leaves the young ones',
    run() {
      const { d, at } = withClock(100);
      const old = [d.start(), d.start()];
      at(50);
      const young = d.start();
      at(120);
      d.sweep();
      assert.equal(old.map((r) => r.signal.aborted), [true, true]);
      assert.is(young.signal.aborted, false, 'started at 50: due at 150');
      assert.is(d.size, 1);
      at(150);
      d.sweep();
      assert.is(young.signal.aborted, true);
      assert.is(d.size, 0);
    },
  },
  {
    name: 'an ended request in the middle does not stop the sweep from reaching those behind it',
    run() {
      const { d, at } = withClock(100);
      const a = d.start();
      const b = d.start();
      const c = d.start();
      b.done();
      at(100);
      d.sweep();
      assert.equal([a, b, c].map((r) => r.signal.aborted), [true, false, true]);
    },
  },
  {
    name: 'a timeout that is not positive is refused',
    run() {
      assert.throws(() => new RequestDeadlines(0), /positive/);
      assert.throws(() => new RequestDeadlines(Number.NaN), /positive/);
    },
  },
];

for (const c of cases) test(c.name, c.run);

test('the real timer aborts a forgotten request and then stops', async () => {
  const d = new RequestDeadlines(20);
  const r = d.start();
  // The sweep timer never keeps a process alive on its own (it is unref'd): hold the test open.
  const hold = setTimeout(() => assert.unreachable('no abort within 5 s'), 5000);
  await new Promise((resolve) => r.signal.addEventListener('abort', resolve, { once: true }));
  clearTimeout(hold);
  assert.is((r.signal.reason as Error).name, 'TimeoutError');
  assert.is(d.size, 0);
});

test.run();
