/**
 * readIndex throughput at the leader, 'safe' (ReadIndex, shared heartbeat rounds) against
 * 'leaseBased' (the CheckQuorum lease, thesis §6.4.1): the role statechart of node 1 of 3, its two
 * followers answered in process, so the figure is the leader's CPU cost per confirmed read, with
 * no network in between (the lease also saves a network round trip per read, not measured here).
 * Reads arrive in bursts of 1 and of 64 between two Readies; each figure is the median of 3 runs.
 */
import { createActor } from 'xstate';
import { resolveConfig } from '../src/config.ts';
import { roleMachine } from '../src/machines/role.machine.ts';
import type { ReadOnlyOption } from '../src/raft/raft-config.ts';
import { type Message, MessageType, message } from '../src/raft/raftpb.ts';
import { RaftState } from '../src/raft/raft-state.ts';

const RUNS = 3;
const READS = 100_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));

function leader(readOnlyOption: ReadOnlyOption) {
  const raft = new RaftState({ config: resolveConfig({ nodeId: 1, peers, preVote: false, checkQuorum: true, readOnlyOption }), seed: 1 });
  const actor = createActor(roleMachine, { input: { raft } }).start();
  const persist = () => {
    const own = raft.msgsAfterAppend.filter((m) => m.to === 1);
    raft.msgsAfterAppend = [];
    for (const m of own) actor.send({ type: 'MESSAGE', msg: m });
  };
  actor.send({ type: 'CAMPAIGN' });
  persist();
  actor.send({ type: 'MESSAGE', msg: message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: raft.term }) });
  persist();
  actor.send({ type: 'MESSAGE', msg: message({ type: MessageType.MsgAppResp, from: 2, to: 1, term: raft.term, index: raft.log.lastIndex() }) });
  if (!raft.committedInCurrentTerm()) throw new Error('the leader did not commit its no-op');
  raft.msgs = [];
  return { raft, actor };
}

/** Reads confirmed per second, and heartbeats sent per read. */
function run(option: ReadOnlyOption, burst: number): { readsPerSec: number; heartbeatsPerRead: number } {
  const { raft, actor } = leader(option);
  const ctx = new Uint8Array(8);
  const view = new DataView(ctx.buffer);
  let confirmed = 0;
  let heartbeats = 0;
  let seq = 0;
  const t0 = performance.now();
  while (confirmed < READS) {
    for (let i = 0; i < burst; i++) {
      view.setUint32(0, seq++);
      actor.send({ type: 'READ_INDEX', context: ctx.slice() });
    }
    // The host's turn: take the Ready; each follower answers the heartbeats it got.
    const out: Message[] = raft.msgs;
    raft.msgs = [];
    for (const m of out) {
      if (m.type !== MessageType.MsgHeartbeat) continue;
      heartbeats++;
      actor.send({ type: 'MESSAGE', msg: message({ type: MessageType.MsgHeartbeatResp, from: m.to, to: 1, term: raft.term, context: m.context }) });
    }
    confirmed += raft.readStates.length;
    raft.readStates = [];
    raft.msgs = [];
  }
  const secs = (performance.now() - t0) / 1000;
  return { readsPerSec: confirmed / secs, heartbeatsPerRead: heartbeats / confirmed };
}

// Warm up the JIT on both paths before anything is timed.
for (const option of ['safe', 'leaseBased'] as const) for (const burst of [1, 64]) run(option, burst);

console.log(`readIndex at the leader, ${READS} reads a run, median of ${RUNS} runs`);
console.log('option      burst  reads/s     heartbeats/read');
for (const burst of [1, 64]) {
  for (const option of ['safe', 'leaseBased'] as const) {
    const runs = Array.from({ length: RUNS }, () => run(option, burst));
    const rps = median(runs.map((r) => r.readsPerSec));
    console.log(`${option.padEnd(11)} ${String(burst).padStart(5)}  ${Math.round(rps).toLocaleString('en-US').padStart(10)}  ${runs[0]!.heartbeatsPerRead.toFixed(3)}`);
  }
}
