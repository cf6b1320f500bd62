import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../src/raft/rng.ts';
import { Backoff, newBackoff } from '../src/io/backoff.ts';

/** A deterministic [0,1) source, so jitter is reproducible. */
function seeded(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

test('defaults: 100 ms initial, x1.6, 20% jitter, 10 s cap', () => {
  const b = newBackoff();
  assert.is(b.initialInterval, 100);
  assert.is(b.multiplier, 1.6);
  assert.is(b.jitter, 0.2);
  assert.is(b.maxInterval, 10_000);
});

test('without jitter the intervals are exactly initial × multiplier^n, stopping at the cap', () => {
  const b = new Backoff({ initialInterval: 100, multiplier: 2, maxInterval: 1000, jitter: 0 });
  const got = Array.from({ length: 7 }, () => b.next());
  assert.equal(got, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('with jitter every interval lies in the band around its centre, and never above the cap', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const b = new Backoff({ random: seeded(seed) });
    let centre = b.initialInterval;
    for (let i = 0; i < 40; i++) {
      const v = b.next();
      assert.ok(v >= centre * (1 - b.jitter) - 1e-9, `attempt ${i}: ${v} below band of ${centre}`);
      assert.ok(v <= Math.min(centre * (1 + b.jitter), b.maxInterval) + 1e-9, `attempt ${i}: ${v} above band of ${centre}`);
      centre = Math.min(centre * b.multiplier, b.maxInterval);
    }
  }
});

test('the extremes of the random source hit the edges of the jitter band', () => {
  const cases: [number, number][] = [
    [0, 80], // 100 × (1 − 0.2)
    [0.5, 100],
    [0.999999999, 120],
  ];
  for (const [r, expected] of cases) {
    const b = new Backoff({ random: () => r });
    assert.ok(Math.abs(b.next() - expected) < 1e-3, `random ${r}`);
  }
});

test('reset starts the schedule over', () => {
  const b = new Backoff({ jitter: 0 });
  for (let i = 0; i < 10; i++) b.next();
  assert.ok(b.next() > 100);
  b.reset();
  assert.is(b.next(), 100);
  assert.is(b.next(), 160);
});

test('the same seed gives the same schedule', () => {
  const a = new Backoff({ random: seeded(7) });
  const b = new Backoff({ random: seeded(7) });
  assert.equal(
    Array.from({ length: 10 }, () => a.next()),
    Array.from({ length: 10 }, () => b.next()),
  );
});

test('invalid settings are refused with the field named', () => {
  const bad: [string, ConstructorParameters<typeof Backoff>[0]][] = [
    ['initialInterval', { initialInterval: 0 }],
    ['initialInterval', { initialInterval: Number.NaN }],
    ['maxInterval', { initialInterval: 500, maxInterval: 100 }],
    ['multiplier', { multiplier: 0.5 }],
    ['jitter', { jitter: 1 }],
    ['jitter', { jitter: -0.1 }],
  ];
  for (const [field, opts] of bad) {
    assert.throws(() => new Backoff(opts), (e: Error) => e instanceof RangeError && e.message.includes(field), field);
  }
});

test.run();
