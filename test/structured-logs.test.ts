/**
 * Structured logs: every record carries level, member id, term and event; a pino logger (the real
 * pino, writing to a stream we read) receives the library's records in its own shape, and a
 * message-first logger keeps receiving `(msg, fields)`; the CLI writes JSON lines with those fields.
 */
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createNode } from '../src/actors/raft-node.ts';
import { jsonLogger, prettyLine } from '../src/io/json-logger.ts';
import { type KvResult, KvStateMachine } from '../src/kv/kv-state-machine.ts';
import { eventName, isPinoLike, structuredLogger } from '../src/io/structured-logger.ts';
import { freePortRange } from './fixtures/port-range.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** A pino logger writing JSON lines into an array. */
function capturingPino(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

test('event names: the camelCase of the first words, fixed names for templated messages', () => {
  const cases: [string, string][] = [
    ['leader changed', 'leaderChanged'],
    ['leader changed: node 3', 'leaderChanged'],
    ['fatal error, stopping the node', 'fatalError'],
    ['empty data directory: waiting for a majority of the founding members to confirm they are new', 'emptyDataDirectory'],
    ['refused an inbound connection', 'refusedAnInboundConnection'],
    ['node 3 presents a new data directory (incarnation ab12); it lost its data', 'peerLostData'],
    ['node 2 knows node 3 by another data directory (incarnation ab12)', 'memberLostData'],
    ['node 2 shows the cluster was already formed without this data directory', 'joiningFormedCluster'],
    ['42', 'log'],
  ];
  for (const [msg, event] of cases) assert.is(eventName(msg), event, msg);
});

test('a real pino logger is recognized and called pino-style: member, term, event, fields and msg in its records', async () => {
  const { logger, lines } = capturingPino();
  assert.ok(isPinoLike(logger), 'pino has levels.values');
  let term = 7;
  const log = structuredLogger(logger, { member: 3, term: () => term });
  log.info('leader changed', { id: 3, leader: 2, role: 'follower' });
  term = 8;
  log.warn('refused an inbound connection', { from: '10.0.0.9:5555', reason: 'bad cluster id' });
  log.debug('custom', { event: 'myEvent' });
  await new Promise((r) => setImmediate(r));
  assert.is(lines.length, 3, JSON.stringify(lines));
  const [a, b, c] = lines as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  // pino's own fields: numeric level, msg.
  assert.is(a.level, 30);
  assert.is(a.msg, 'leader changed');
  assert.is(a.member, 3);
  assert.is(a.term, 7);
  assert.is(a.event, 'leaderChanged');
  assert.is(a.leader, 2);
  assert.is(a.role, 'follower');
  assert.is(a.id, undefined, 'id equal to member is not repeated');
  assert.is(b.level, 40);
  assert.is(b.term, 8, 'the term is read at each record');
  assert.is(b.event, 'refusedAnInboundConnection');
  assert.is(b.reason, 'bad cluster id');
  assert.is(c.event, 'myEvent', "a call's own event wins");
});

test('createNode({ logger: pino }): the library logs to pino in its shape, each record with member, term and event', async () => {
  const { logger, lines } = capturingPino('info');
  const [port] = [await freePortRange(1)];
  const node = createNode<KvResult>({ nodeId: 5, peers: [{ id: 5, address: `127.0.0.1:${port}` }], tickInterval: 10, electionTick: 10, heartbeatTick: 1 }, new KvStateMachine(), { logger });
  try {
    await node.start({ waitForLeader: true, signal: AbortSignal.timeout(30_000) });
  } finally {
    await node.stop();
  }
  await new Promise((r) => setImmediate(r));
  const byEvent = new Map(lines.map((l) => [l.event, l]));
  for (const event of ['nodeStarted', 'leaderChanged', 'nodeStopped']) {
    const r = byEvent.get(event);
    assert.ok(r, `${event} in ${JSON.stringify(lines)}`);
    assert.is(r!.member, 5, JSON.stringify(r));
    assert.is(r!.level, 30, JSON.stringify(r));
    assert.type(r!.msg, 'string');
  }
  assert.ok((byEvent.get('leaderChanged')!.term as number) >= 1, 'the term of the election that made it leader');
});

test('a message-first logger (the Logger shape) still receives (msg, fields), with the added fields', () => {
  const calls: [string, string, Record<string, unknown> | undefined][] = [];
  const target = {
    debug: (m: string, f?: Record<string, unknown>) => calls.push(['debug', m, f]),
    info: (m: string, f?: Record<string, unknown>) => calls.push(['info', m, f]),
    warn: (m: string, f?: Record<string, unknown>) => calls.push(['warn', m, f]),
    error: (m: string, f?: Record<string, unknown>) => calls.push(['error', m, f]),
  };
  assert.not.ok(isPinoLike(target));
  const log = structuredLogger(target, { member: 1, term: () => undefined });
  log.error('fatal error, stopping the node', { id: 1, error: 'disk full' });
  assert.equal(calls, [['error', 'fatal error, stopping the node', { member: 1, event: 'fatalError', error: 'disk full' }]]);
});

test('jsonLogger: one JSON object per line with time, level, bound fields and msg; levels filter; warnings to the error stream', () => {
  const out: string[] = [];
  const err: string[] = [];
  const now = () => new Date('2026-01-02T03:04:05.000Z');
  const base = jsonLogger({ level: 'info', out: (l) => out.push(l), err: (l) => err.push(l), now });
  const log = structuredLogger(base.child({ service: 'kv' }), { member: 2, term: () => 4 });
  log.debug('dropped below the level');
  log.info('node started', { commit: 10, big: 2n ** 70n });
  log.error('stop failed', { error: new Error('boom') });
  assert.is(out.length, 1, out.join(''));
  assert.is(err.length, 1, err.join(''));
  assert.ok(out[0]!.endsWith('\n') && !out[0]!.slice(0, -1).includes('\n'), 'one line per record');
  assert.equal(JSON.parse(out[0]!), { time: '2026-01-02T03:04:05.000Z', level: 'info', service: 'kv', member: 2, term: 4, event: 'nodeStarted', commit: 10, big: '1180591620717411303424', msg: 'node started' });
  assert.equal(JSON.parse(err[0]!).error, { name: 'Error', message: 'boom' });
  assert.is(prettyLine(JSON.parse(out[0]!)), '2026-01-02T03:04:05.000Z INFO  node 2 term 4 nodeStarted: node started service=kv commit=10 big=1180591620717411303424');
  assert.throws(() => jsonLogger({ level: 'verbose' as 'info' }), /log level must be one of debug, info, warn, error/);
});

test('the CLI writes JSON lines: every record has time, level, member, term, event and msg', async () => {
  const port = await freePortRange(2);
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'node', '--id', '1', '--peers', `1=127.0.0.1:${port}`, '--http', `127.0.0.1:${port + 1}`, '--memory', '--tick', '20'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  try {
    const deadline = Date.now() + 60_000;
    while (!/"event":"leaderChanged"/.test(out)) {
      if (Date.now() > deadline) throw new Error(`no leaderChanged record within 60 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const records = out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(records.length >= 3, out);
  for (const r of records) {
    assert.type(r.time, 'string', JSON.stringify(r));
    assert.ok(['debug', 'info', 'warn', 'error'].includes(r.level as string), JSON.stringify(r));
    assert.is(r.member, 1, JSON.stringify(r));
    assert.type(r.event, 'string', JSON.stringify(r));
    assert.type(r.msg, 'string', JSON.stringify(r));
  }
  const events = records.map((r) => r.event);
  for (const e of ['nodeStarted', 'ready', 'leaderChanged', 'stopping', 'stopped']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
  const led = records.find((r) => r.event === 'leaderChanged' && r.leader === 1)!;
  assert.ok(typeof led.term === 'number' && led.term >= 1, `the leader change carries the term: ${JSON.stringify(led)}`);
});

test.run();
