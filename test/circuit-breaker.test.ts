import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { CircuitBreaker, CircuitState, newCircuitBreaker } from '../src/io/circuit-breaker.ts';
import { circuitBreakerMachine } from '../src/machines/circuit-breaker.machine.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

function breaker(opts: { failureThreshold?: number; sleepWindowMs?: number } = {}) {
  const clock = manualClock();
  return { clock, cb: new CircuitBreaker({ failureThreshold: 3, sleepWindowMs: 1000, ...opts, clock: clock.now }) };
}

test('defaults are Hystrix-like: 5 failures open it, 5 s sleep window', () => {
  const clock = manualClock();
  const cb = newCircuitBreaker({ clock: clock.now });
  for (let i = 0; i < 4; i++) cb.recordFailure();
  assert.is(cb.state(), CircuitState.Closed);
  cb.recordFailure();
  assert.is(cb.state(), CircuitState.Open);
  clock.advance(4999);
  assert.is(cb.call(), false);
  clock.advance(1);
  assert.is(cb.call(), true);
  assert.is(cb.state(), CircuitState.HalfOpen);
  cb.dispose();
});

test('closed: calls pass; failures below the threshold keep it closed', () => {
  const { cb } = breaker();
  assert.is(cb.state(), CircuitState.Closed);
  assert.ok(cb.call());
  cb.recordFailure();
  cb.recordFailure();
  assert.is(cb.state(), CircuitState.Closed);
  assert.is(cb.consecutiveFailures(), 2);
  assert.ok(cb.call());
  assert.not.ok(cb.isOpen());
});

test('closed: a success clears the consecutive failure count', () => {
  const { cb } = breaker();
  cb.recordFailure();
  cb.recordFailure();
  cb.recordSuccess();
  assert.is(cb.consecutiveFailures(), 0);
  cb.recordFailure();
  cb.recordFailure();
  assert.is(cb.state(), CircuitState.Closed, 'the count restarted after the success');
});

test('closed → open after the threshold of consecutive failures; calls are refused', () => {
  const { cb } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  assert.is(cb.state(), CircuitState.Open);
  assert.ok(cb.isOpen());
  assert.is(cb.call(), false);
  assert.is(cb.call(), false);
  assert.is(cb.retryAfter(), 1000);
});

test('open → halfOpen once the sleep window passed: exactly one trial goes through', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(999);
  assert.is(cb.call(), false);
  assert.is(cb.retryAfter(), 1);
  clock.advance(1);
  assert.is(cb.call(), true, 'the trial');
  assert.is(cb.state(), CircuitState.HalfOpen);
  assert.is(cb.call(), false, 'no second call while the trial is out');
  assert.not.ok(cb.isOpen(), 'half-open is not open');
});

test('open → halfOpen by the passage of time alone (state() with a later clock)', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(1500);
  assert.is(cb.state(), CircuitState.HalfOpen);
  assert.is(cb.call(), true, 'the trial is still available');
  assert.is(cb.call(), false);
});

test('halfOpen → closed when the trial succeeds', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(1000);
  assert.ok(cb.call());
  cb.recordSuccess();
  assert.is(cb.state(), CircuitState.Closed);
  assert.is(cb.consecutiveFailures(), 0);
  assert.ok(cb.call());
  assert.ok(cb.call());
});

test('halfOpen → open again when the trial fails, for a fresh sleep window', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(1000);
  assert.ok(cb.call());
  cb.recordFailure();
  assert.is(cb.state(), CircuitState.Open);
  assert.is(cb.call(), false);
  clock.advance(999);
  assert.is(cb.call(), false, 'the window restarted at the trial failure');
  clock.advance(1);
  assert.is(cb.call(), true);
});

test('halfOpen: a trial that never reports back is given up after one sleep window', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(1000);
  assert.ok(cb.call());
  clock.advance(999);
  assert.is(cb.call(), false);
  clock.advance(1);
  assert.is(cb.call(), true, 'a new trial');
});

test('open → closed on a success reported while open (the peer reached us)', () => {
  const { cb } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  cb.recordSuccess();
  assert.is(cb.state(), CircuitState.Closed);
  assert.ok(cb.call());
});

test('open: further failures neither extend nor shorten the window', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(600);
  cb.recordFailure();
  clock.advance(400);
  assert.is(cb.call(), true);
});

test('reset returns to closed from any state', () => {
  const { cb, clock } = breaker();
  for (let i = 0; i < 3; i++) cb.recordFailure();
  cb.reset();
  assert.is(cb.state(), CircuitState.Closed);
  for (let i = 0; i < 3; i++) cb.recordFailure();
  clock.advance(1000);
  cb.call();
  assert.is(cb.state(), CircuitState.HalfOpen);
  cb.reset();
  assert.is(cb.state(), CircuitState.Closed);
});

test('state$ emits each change once', () => {
  const { cb, clock } = breaker();
  const seen: string[] = [];
  const sub = cb.state$.subscribe((s) => seen.push(s));
  for (let i = 0; i < 3; i++) cb.recordFailure();
  cb.call();
  clock.advance(1000);
  cb.call();
  cb.call();
  cb.recordSuccess();
  sub.unsubscribe();
  assert.equal(seen, ['closed', 'open', 'halfOpen', 'closed']);
});

test('the machine is pure: time only enters through events', () => {
  const actor = createActor(circuitBreakerMachine, { input: { failureThreshold: 1, sleepWindow: 10 } }).start();
  actor.send({ type: 'FAILURE', now: 0 });
  assert.is(actor.getSnapshot().value, 'open');
  actor.send({ type: 'TICK', now: 9 });
  assert.is(actor.getSnapshot().value, 'open');
  actor.send({ type: 'TICK', now: 10 });
  assert.is(actor.getSnapshot().value, 'halfOpen');
  assert.is(actor.getSnapshot().context.trialStartedAt, null);
  actor.send({ type: 'CALL', now: 11 });
  assert.is(actor.getSnapshot().context.permitted, true);
  assert.is(actor.getSnapshot().context.trialStartedAt, 11);
  actor.stop();
});

test('invalid settings are refused', () => {
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), /failureThreshold/);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1.5 }), /failureThreshold/);
  assert.throws(() => new CircuitBreaker({ sleepWindowMs: -1 }), /sleepWindowMs/);
});

test.run();
