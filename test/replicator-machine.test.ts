/**
 * The replicator statechart, driven directly: an event in, its state, its Progress, the messages
 * it queued and the reports it sent the leader out. Tables of cases for the flow control of Raft
 * §5.3 (probe, pipelined replicate, fast backtracking) and §7 (snapshot), and for the peer's
 * backoff and circuit breaker, which run on the ticks the leader forwards.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ActorRefFrom, createActor, setup } from 'xstate';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import { type ReplicatorEvent, type ReplicatorInput, type ReplicatorReport, replicatorMachine } from '../src/machines/replicator.machine.ts';
import { RaftState } from '../src/raft/raft-state.ts';
import { type Message, MessageType, message } from '../src/raft/raftpb.ts';
import { bytes, configFor, entriesWithTerms } from './helpers/cluster-harness.ts';

const LEADER = 1;
const PEER = 2;
const TERM = 3;

/** A leader (node 1, term 3) with the log [1,1,2,2,3] and the replicator of node 2, hosted by a parent that records its reports. */
function fixture(opts: { compactTo?: number; maxInflightMsgs?: number; maxSizePerMsg?: number } = {}) {
  const stable = new MemoryStorage();
  stable.appendSync(entriesWithTerms([1, 1, 2, 2, 3]));
  if (opts.compactTo) {
    stable.createSnapshotSync(opts.compactTo, { voters: [1, 2, 3], learners: [] }, bytes('state'));
    stable.compactSync(opts.compactTo);
  }
  const config = configFor(LEADER, [1, 2, 3], { maxInflightMsgs: opts.maxInflightMsgs ?? 256, maxSizePerMsg: opts.maxSizePerMsg ?? 1024 * 1024 });
  const raft = new RaftState({ config, stable, hardState: { term: TERM, vote: LEADER, commit: 5 } });
  raft.lead = LEADER;
  const reports: ReplicatorReport[] = [];
  const host = setup({
    types: {} as { input: ReplicatorInput; context: { ref: ActorRefFrom<typeof replicatorMachine> }; events: ReplicatorReport },
    actors: { replicator: replicatorMachine },
  }).createMachine({
    context: ({ input, spawn }) => ({ ref: spawn('replicator', { id: `replicator-${PEER}`, input }) }),
    on: { '*': { actions: ({ event }) => reports.push(event) } },
  });
  const actor = createActor(host, { input: { peer: PEER, raft } }).start();
  const ref = actor.getSnapshot().context.ref;
  return {
    raft,
    reports,
    send: (...events: ReplicatorEvent[]) => {
      for (const e of events) ref.send(e);
    },
    state: () => ref.getSnapshot().value as string,
    progress: () => ref.getSnapshot().context.progress,
    circuit: () => ref.getSnapshot().context.breaker.getSnapshot().value as string,
    /** What was queued since the last call, described briefly. */
    sent: () => {
      const out = raft.msgs.map(describe);
      raft.msgs = [];
      return out;
    },
  };
}

function describe(m: Message): string {
  if (m.to !== PEER) return `to ${m.to}?`;
  switch (m.type) {
    case MessageType.MsgApp:
      return `app ${m.index}+${m.entries.length} c${m.commit}`;
    case MessageType.MsgHeartbeat:
      return `hb c${m.commit}`;
    case MessageType.MsgSnap:
      return `snap ${m.snapshot!.metadata.index}@${m.chunk!.offset}`;
    default:
      return `type ${m.type}`;
  }
}

const appResp = (index: number, extra: Partial<Message> = {}): ReplicatorEvent => ({
  type: 'APPEND_RESPONSE',
  msg: message({ type: MessageType.MsgAppResp, from: PEER, to: LEADER, term: TERM, index, ...extra }),
});
const reject = (index: number, rejectHint: number, logTerm: number) => appResp(index, { reject: true, rejectHint, logTerm });
const hbResp: ReplicatorEvent = { type: 'HEARTBEAT_RESPONSE', msg: message({ type: MessageType.MsgHeartbeatResp, from: PEER, to: LEADER, term: TERM }) };
const sendAppend = (sendIfEmpty = false): ReplicatorEvent => ({ type: 'SEND_APPEND', sendIfEmpty });
const match = (m: number): ReplicatorReport => ({ type: 'PEER_MATCH', peer: PEER, match: m });

interface Expect {
  state: string;
  match: number;
  next: number;
  sent: string[];
  reports: ReplicatorReport[];
}

/** [name, fixture options, events that lead up to the case, the event, what comes out]. */
const flowCases: [string, Parameters<typeof fixture>[0], ReplicatorEvent[], ReplicatorEvent, Expect][] = [
  ['probe: nothing new, nothing asked: nothing is sent', {}, [], sendAppend(), { state: 'probe', match: 0, next: 6, sent: [], reports: [] }],
  ['probe: an empty probe at next-1 carries the commit index', {}, [], sendAppend(true), { state: 'probe', match: 0, next: 6, sent: ['app 5+0 c5'], reports: [] }],
  ['probe: a second probe waits for the answer to the first', {}, [sendAppend(true)], sendAppend(true), { state: 'probe', match: 0, next: 6, sent: [], reports: [] }],
  [
    'probe: an ack shows where the logs match: replicate, and the leader hears of match',
    {},
    [sendAppend(true)],
    appResp(5),
    { state: 'replicate', match: 5, next: 6, sent: [], reports: [match(5)] },
  ],
  [
    'probe: a rejection of the outstanding probe backtracks a whole term by the hint (§5.3) and probes again',
    {},
    [sendAppend(true)],
    reject(5, 2, 1),
    { state: 'probe', match: 0, next: 3, sent: ['app 2+3 c5'], reports: [] },
  ],
  ['probe: a stale rejection (of an older append) is ignored', {}, [sendAppend(true)], reject(3, 1, 1), { state: 'probe', match: 0, next: 6, sent: [], reports: [] }],
  [
    'replicate: appends are pipelined up to the inflight window, one entry each at this message size',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1)],
    appResp(3),
    { state: 'replicate', match: 3, next: 6, sent: ['app 3+1 c5', 'app 4+1 c5'], reports: [match(3)] },
  ],
  [
    'replicate: a full window sends nothing, even when asked for an empty append',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    sendAppend(true),
    { state: 'replicate', match: 3, next: 6, sent: [], reports: [] },
  ],
  [
    'replicate: a heartbeat ack from a follower behind frees a slot of a full window and sends an append',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    hbResp,
    { state: 'replicate', match: 3, next: 6, sent: ['app 5+0 c5'], reports: [] },
  ],
  [
    'replicate: an ack frees the window and the next appends go',
    { maxInflightMsgs: 1, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    appResp(4),
    { state: 'replicate', match: 4, next: 6, sent: ['app 4+1 c5'], reports: [match(4)] },
  ],
  [
    'replicate: a rejection past match drops to probe, restarting right after match',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    reject(4, 3, 2),
    { state: 'probe', match: 3, next: 4, sent: [], reports: [] },
  ],
  [
    'replicate: a stale rejection (at or below match) is ignored',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    reject(3, 1, 1),
    { state: 'replicate', match: 3, next: 6, sent: [], reports: [] },
  ],
  [
    'snapshot: a follower that needs compacted entries gets the snapshot (§7)',
    { compactTo: 3 },
    [sendAppend(true)],
    reject(5, 0, 0),
    { state: 'snapshot', match: 0, next: 1, sent: ['snap 3@0'], reports: [] },
  ],
  [
    'snapshot: an ack of the snapshot moves to replicate and sends what follows it',
    { compactTo: 3 },
    [sendAppend(true), reject(5, 0, 0)],
    appResp(3),
    { state: 'replicate', match: 3, next: 6, sent: ['app 3+2 c5'], reports: [match(3)] },
  ],
  [
    'snapshot: a failed snapshot report goes back to probe, past the snapshot',
    { compactTo: 3 },
    [sendAppend(true), reject(5, 0, 0)],
    { type: 'SNAPSHOT_STATUS', reject: true },
    { state: 'probe', match: 0, next: 4, sent: [], reports: [] },
  ],
  ['heartbeat: its commit index is capped at what the follower has (match 0)', {}, [], { type: 'SEND_HEARTBEAT' }, { state: 'probe', match: 0, next: 6, sent: ['hb c0'], reports: [] }],
  [
    'heartbeat: its commit index is capped at match',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    { type: 'SEND_HEARTBEAT' },
    { state: 'replicate', match: 3, next: 6, sent: ['hb c3'], reports: [] },
  ],
  [
    'replicate: an unreachable peer drops to probe (no pipelining into the void)',
    { maxInflightMsgs: 2, maxSizePerMsg: 1 },
    [sendAppend(true), reject(5, 2, 1), appResp(3)],
    { type: 'UNREACHABLE' },
    { state: 'probe', match: 3, next: 4, sent: [], reports: [] },
  ],
];

test('flow control: event in, state, Progress, messages and reports out', () => {
  for (const [name, opts, before, event, want] of flowCases) {
    const f = fixture(opts);
    f.send(...before);
    f.sent();
    f.reports.length = 0;
    f.send(event);
    const pr = f.progress();
    assert.equal({ state: f.state(), match: pr.match, next: pr.next, sent: f.sent(), reports: [...f.reports] }, want, name);
  }
});

/** Ticks until a heartbeat gets out (asking for one each tick); the number of ticks it took. */
function ticksUntilHeartbeat(f: ReturnType<typeof fixture>, limit = 100): number {
  for (let t = 0; t <= limit; t++) {
    f.send({ type: 'SEND_HEARTBEAT' });
    if (f.sent().length > 0) return t;
    f.send({ type: 'TICK' });
  }
  return Infinity;
}

test('backoff: after each unreachable report the peer is left alone for a growing number of ticks', () => {
  const f = fixture();
  const holds: number[] = [];
  for (let i = 0; i < 4; i++) {
    f.send({ type: 'UNREACHABLE' });
    holds.push(ticksUntilHeartbeat(f));
  }
  // heartbeatTick 1, ×1.6 per report, ±20% jitter, rounded: 1, 1–2, 2–3, 3–5 ticks.
  const bands: [number, number][] = [[1, 1], [1, 2], [2, 3], [3, 5]];
  holds.forEach((h, i) => assert.ok(h >= bands[i]![0] && h <= bands[i]![1], `hold ${i + 1} was ${h} ticks (${holds.join(', ')})`));
  assert.equal(f.circuit(), 'closed', 'four failures stay below the threshold');
});

test('backoff: an answer from the peer, or a reachable report, ends the backoff at once', () => {
  const cases: [string, ReplicatorEvent][] = [
    ['a heartbeat ack', hbResp],
    ['a reachable report', { type: 'REACHABLE' }],
  ];
  for (const [name, event] of cases) {
    const f = fixture();
    f.send({ type: 'UNREACHABLE' }, { type: 'UNREACHABLE' }, { type: 'UNREACHABLE' });
    f.send({ type: 'SEND_HEARTBEAT' });
    assert.equal(f.sent(), [], `${name}: held back`);
    f.send(event);
    f.sent();
    f.send({ type: 'SEND_HEARTBEAT' });
    assert.equal(f.sent(), ['hb c0'], `${name}: sends again without a tick`);
    assert.is(f.progress().next, 6, `${name}: Progress untouched by the hold`);
  }
});

test('circuit breaker: five failures open it; nothing goes while open; one trial after the sleep window; an answer closes it', () => {
  const f = fixture();
  for (let i = 0; i < 5; i++) {
    f.send({ type: 'UNREACHABLE' });
    for (let t = 0; t < 10 && f.circuit() === 'closed'; t++) f.send({ type: 'TICK' });
  }
  assert.is(f.circuit(), 'open');
  assert.equal(f.reports, [{ type: 'PEER_CIRCUIT', peer: PEER, state: 'open' }], 'the leader is told');
  f.reports.length = 0;
  // Open: whatever is asked, nothing is sent, for an election timeout (10 ticks) after it opened.
  let ticks = 0;
  while (f.circuit() === 'open' && ticks < 100) {
    f.send({ type: 'SEND_HEARTBEAT' }, sendAppend(true));
    assert.equal(f.sent(), [], `tick ${ticks}: nothing while open`);
    f.send({ type: 'TICK' });
    ticks++;
  }
  assert.ok(ticks >= 9 && ticks <= 10, `half-open after the sleep window (${ticks} ticks)`);
  assert.equal(f.reports, [{ type: 'PEER_CIRCUIT', peer: PEER, state: 'halfOpen' }]);
  f.send({ type: 'SEND_HEARTBEAT' }, { type: 'SEND_HEARTBEAT' }, sendAppend(true));
  assert.equal(f.sent(), ['hb c0'], 'exactly one trial');
  f.send(hbResp);
  assert.is(f.circuit(), 'closed');
  assert.equal(f.reports.at(-1), { type: 'PEER_CIRCUIT', peer: PEER, state: 'closed' });
  f.sent();
  f.send({ type: 'SEND_HEARTBEAT' }, { type: 'SEND_HEARTBEAT' });
  assert.equal(f.sent(), ['hb c0', 'hb c0'], 'closed: everything goes again');
});

test('circuit breaker: a failed trial reopens it; a reachable report closes it at once', () => {
  const f = fixture();
  for (let i = 0; i < 5; i++) {
    f.send({ type: 'UNREACHABLE' });
    for (let t = 0; t < 10 && f.circuit() === 'closed'; t++) f.send({ type: 'TICK' });
  }
  for (let t = 0; t < 10; t++) f.send({ type: 'TICK' });
  assert.is(f.circuit(), 'halfOpen');
  f.send({ type: 'UNREACHABLE' });
  assert.is(f.circuit(), 'open', 'the trial failed');
  f.send({ type: 'REACHABLE' });
  assert.is(f.circuit(), 'closed');
  assert.equal(f.sent().slice(-1), ['hb c0'], 'the reachable peer gets a heartbeat at once');
  assert.equal(
    f.reports.map((r) => (r.type === 'PEER_CIRCUIT' ? r.state : r.type)),
    ['open', 'halfOpen', 'open', 'closed'],
  );
});

test.run();
