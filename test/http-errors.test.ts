/**
 * The HTTP status table: every error class the library exports has its own row, the row is what
 * both `httpAnswer` and the KV server answer for an instance of it, and the rows a client relies on
 * say what the docs say (503 + retry only for "provably not applied", 504 for "unknown").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { IncomingMessage } from 'node:http';
import { createNode } from '../src/actors/raft-node.ts';
import * as errors from '../src/errors.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { ERROR_ANSWERS, causeChain, httpAnswer } from '../src/kv/http-errors.ts';
import { KvHttpServer } from '../src/kv/kv-http-server.ts';
import { type KvResult, KvStateMachine } from '../src/kv/kv-state-machine.ts';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Every class exported by src/errors.ts that is an Error. */
const classes: [string, ErrorClass][] = (Object.entries(errors) as [string, unknown][]).filter(
  (e): e is [string, ErrorClass] => typeof e[1] === 'function' && (e[1] as { prototype: unknown }).prototype instanceof Error,
);

/** An instance without running the constructor (whose arguments differ per class). */
const instanceOf = (cls: ErrorClass): Error => Object.assign(Object.create(cls.prototype) as Error, { message: `a ${cls.name}` });

test('every exported error class has its own row', () => {
  assert.ok(classes.length >= 15, `found ${classes.length} error classes`);
  const rows = new Set<ErrorClass>(ERROR_ANSWERS.map(([cls]) => cls));
  const missing = classes.filter(([, cls]) => !rows.has(cls)).map(([name]) => name);
  assert.equal(missing, [], `add a row for ${missing.join(', ')} to ERROR_ANSWERS in src/kv/http-errors.ts`);
  const exported = new Set<ErrorClass>(classes.map(([, cls]) => cls));
  const stale = ERROR_ANSWERS.filter(([cls]) => !exported.has(cls)).map(([cls]) => cls.name);
  assert.equal(stale, [], 'rows for classes src/errors.ts no longer exports');
});

test('each class gets its own row (a subclass is not answered by its base class row)', () => {
  for (const [name, cls] of classes) {
    const row = ERROR_ANSWERS.find(([c]) => c === cls)![1];
    assert.equal(httpAnswer(instanceOf(cls)), row, name);
  }
});

// The contract clients rely on (docs/api.md, docs/kv-example.md).
const contract: [ErrorClass, number, boolean][] = [
  [errors.ProposalOutcomeUnknownError, 504, false],
  [errors.StoppedError, 503, true],
  [errors.ProposalDroppedError, 503, true],
  [errors.NotLeaderError, 421, true],
  [errors.ConfChangeInProgressError, 409, true],
  [errors.UnknownMemberError, 404, false],
  [errors.MemberConflictError, 409, false],
  [errors.ConfigError, 400, false],
  [errors.StorageWriteFailedError, 500, false],
];

test('the rows clients rely on', () => {
  for (const [cls, status, retryable] of contract) assert.equal(httpAnswer(instanceOf(cls)), { status, retryable }, cls.name);
  assert.equal(httpAnswer(new errors.NotLeaderError(0)), { status: 503, retryable: true }, 'no leader known');
  assert.equal(httpAnswer(new errors.NotLeaderError(2, '127.0.0.1:7002')), { status: 421, retryable: true });
  // Only answers that prove nothing was applied invite a retry; "unknown" never does.
  for (const [cls, answer] of ERROR_ANSWERS) {
    if (answer.retryable) assert.ok(answer.status === 421 || answer.status === 409 || answer.status === 503, `${cls.name}: retryable ${answer.status}`);
    if (answer.status === 504) assert.not.ok(answer.retryable, cls.name);
  }
});

test('errors from outside the library: timeouts are unknown outcomes, others are 500', () => {
  assert.equal(httpAnswer(new DOMException('timed out', 'TimeoutError')), { status: 504, retryable: false });
  assert.equal(httpAnswer(new DOMException('aborted', 'AbortError')), { status: 504, retryable: false });
  assert.equal(httpAnswer(new RangeError('proposal too big')), { status: 413, retryable: false });
  assert.equal(httpAnswer(new Error('boom')), { status: 500, retryable: false });
  assert.equal(httpAnswer('a string'), { status: 500, retryable: false });
});

test('the KV server answers every class with its row, and keeps the cause', () => {
  const node = createNode<KvResult>({ nodeId: 1, peers: [{ id: 1, address: '127.0.0.1:1' }] }, new KvStateMachine(), { storage: new MemoryStorage() });
  const server = new KvHttpServer({ node, kv: new KvStateMachine() });
  const toHttp = (err: unknown) =>
    (server as unknown as { toHttpError(e: unknown, req: IncomingMessage): { status: number; extra: Record<string, unknown>; headers: Record<string, string> } }).toHttpError(err, {
      url: '/kv/x',
    } as IncomingMessage);
  for (const [name, cls] of classes) {
    const err = instanceOf(cls);
    const expected = err instanceof errors.NotLeaderError ? { status: 503, retryable: true } : httpAnswer(err);
    const got = toHttp(err);
    assert.is(got.status, expected.status, name);
    assert.is(got.extra.retryable, expected.retryable, `${name}: retryable in the body`);
    assert.is(got.headers['retry-after'], expected.retryable ? '1' : undefined, `${name}: retry-after header`);
  }
  const disk = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  const failed = new errors.StorageWriteFailedError('batch of 3 entries', { cause: disk });
  const unknown = new errors.ProposalOutcomeUnknownError('node 1 stopped before the proposal was applied here', { cause: failed });
  assert.equal(causeChain(unknown), [failed.message, disk.message]);
  const answer = toHttp(unknown);
  assert.is(answer.status, 504);
  assert.is(answer.extra.outcome, 'unknown');
  assert.match(String(answer.extra.cause), /storage write failed.*ENOSPC/);
});

test.run();
