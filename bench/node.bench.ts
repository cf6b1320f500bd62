/**
 * Node actor and simulation throughput.
 * - events/s one node actor handles as a leader (PROPOSE batches + append acks from 2 followers)
 *   and as a follower (MsgApp with 64 entries), Ready handling included;
 * - the simulation kit's ticks/s and steps/s on a 3-node and a 5-node cluster under steady load.
 * Each figure is the median of 5 rounds.
 */
import { NodeActor } from '../src/actors/node-actor.ts';
import { resolveConfig } from '../src/config.ts';
import { EntryType, MessageType, message, type Entry } from '../src/raft/raftpb.ts';
import { Simulation } from '../src/sim/simulation.ts';

const ROUNDS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peers = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${7000 + id}` }));
const payload = new Uint8Array(16);

function electedLeader(): NodeActor {
  const n = new NodeActor({ config: resolveConfig({ nodeId: 1, peers, preVote: false }) });
  n.campaign();
  let rd = n.takeReady()!;
  n.step(message({ type: MessageType.MsgVoteResp, from: 2, to: 1, term: 1 }));
  n.persisted(rd);
  rd = n.takeReady()!;
  n.persisted(rd);
  for (const from of [2, 3]) n.step(message({ type: MessageType.MsgAppResp, from, to: 1, term: 1, index: 1 }));
  n.takeReady();
  return n;
}

function leaderRound(batches: number, batchSize: number): { eventsPerSec: number; entriesPerSec: number } {
  const n = electedLeader();
  const batch = Array.from({ length: batchSize }, () => ({ type: EntryType.Normal, data: payload }));
  const before = n.eventCount;
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const out = n.propose(batch);
    if (out.kind !== 'appended') throw new Error('not leader');
    const rd = n.takeReady()!;
    n.persisted(rd);
    const last = out.index + out.count - 1;
    for (const from of [2, 3]) n.step(message({ type: MessageType.MsgAppResp, from, to: 1, term: 1, index: last }));
    const rd2 = n.takeReady();
    if (rd2) {
      n.persisted(rd2);
      if (rd2.committedEntries.length) n.applied(rd2.committedEntries[rd2.committedEntries.length - 1]!.index);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  return { eventsPerSec: (n.eventCount - before) / secs, entriesPerSec: (batches * batchSize) / secs };
}

function followerRound(appends: number, perAppend: number): { eventsPerSec: number; entriesPerSec: number } {
  const n = new NodeActor({ config: resolveConfig({ nodeId: 2, peers }) });
  let index = 0;
  const before = n.eventCount;
  const t0 = performance.now();
  for (let a = 0; a < appends; a++) {
    const entries: Entry[] = [];
    for (let i = 1; i <= perAppend; i++) entries.push({ index: index + i, term: 1, type: EntryType.Normal, data: payload });
    n.step(message({ type: MessageType.MsgApp, from: 1, to: 2, term: 1, index, logTerm: index === 0 ? 0 : 1, commit: index, entries }));
    index += perAppend;
    const rd = n.takeReady()!;
    n.persisted(rd);
    if (rd.committedEntries.length) n.applied(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    n.takeReady();
  }
  const secs = (performance.now() - t0) / 1000;
  return { eventsPerSec: (n.eventCount - before) / secs, entriesPerSec: (appends * perAppend) / secs };
}

function simRound(nodes: number, ticks: number): { ticksPerSec: number; stepsPerSec: number } {
  const sim = new Simulation({ seed: 7, nodes, network: { delay: [1, 5] } });
  sim.runUntil((s) => s.leader() !== undefined, 200);
  const enc = new TextEncoder();
  const t0 = performance.now();
  const steps0 = sim.steps;
  for (let t = 0; t < ticks; t++) {
    const l = sim.leader();
    if (l !== undefined) for (let i = 0; i < 4; i++) sim.propose(l, enc.encode(`p${t}-${i}`));
    sim.runFor(1);
  }
  const secs = (performance.now() - t0) / 1000;
  return { ticksPerSec: ticks / secs, stepsPerSec: (sim.steps - steps0) / secs };
}

function report(name: string, runs: Record<string, number>[]): void {
  const keys = Object.keys(runs[0]!);
  const parts = keys.map((k) => `${k} ${Math.round(median(runs.map((r) => r[k]!))).toLocaleString('en-US')}`);
  console.log(`${name.padEnd(38)} ${parts.join(', ')}`);
}

leaderRound(200, 64); // warm-up
report('leader, 64-entry batches, 2 followers', Array.from({ length: ROUNDS }, () => leaderRound(3000, 64)));
report('leader, 1-entry proposals, 2 followers', Array.from({ length: ROUNDS }, () => leaderRound(20000, 1)));
report('follower, 64-entry appends', Array.from({ length: ROUNDS }, () => followerRound(3000, 64)));
report('sim, 3 nodes, 4 proposals/tick', Array.from({ length: ROUNDS }, () => simRound(3, 1000)));
report('sim, 5 nodes, 4 proposals/tick', Array.from({ length: ROUNDS }, () => simRound(5, 1000)));
