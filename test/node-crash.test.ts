/**
 * Crash test of a whole node: a child process runs a one-member RaftNode on DiskStorage proposing
 * commands, and is killed with SIGKILL at random points, 20 times, restarting on the same data
 * directory each time. Every proposal whose promise resolved before a kill must still be in the
 * log afterwards, at the index it was reported at, with its data (Raft Figure 2: nothing is
 * acknowledged before it is durable), and the restarted node must apply all of them again, in order.
 * The kill points come from the seed: each run is killed once the parent has read the K-th
 * acknowledgement, K drawn from the seed (never a wall-clock delay). NODE_CRASH_SEED=<n> runs
 * another seed (`random` picks one and prints it); a failure prints the command that replays it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { unwrapProposal } from '../src/actors/proposal-envelope.ts';
import { EntryType } from '../src/raft/raftpb.ts';
import { Rng } from '../src/raft/rng.ts';
import { freePorts } from './fixtures/free-ports.ts';
import { seedFromEnv, withReplay } from './helpers/seeds.ts';

const script = fileURLToPath(new URL('./fixtures/node-crash-proposer.ts', import.meta.url));
const seed = seedFromEnv('NODE_CRASH_SEED', 20261201);
const replay = `NODE_CRASH_SEED=${seed} npm test -- node-crash`;
const KILLS = 20;

interface Run {
  acked: Map<number, number>;
  stateAtStart: number;
}

/** Runs the proposer until it has acknowledged `killAtAck` proposals, then SIGKILLs it. */
async function runUntilKilled(dir: string, port: number, firstSeq: number, killAtAck: number): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(port), String(firstSeq)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<number, number>();
  let stateAtStart = -1;
  let buf = '';
  let err = '';
  let started = false;
  child.stderr.on('data', (d) => (err += d));
  const killed = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.stdout.on('data', (d) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const [kind, a, b] = buf.slice(0, nl).split(' ');
      buf = buf.slice(nl + 1);
      if (kind === 'OK') {
        acked.set(Number(a), Number(b));
        if (acked.size === killAtAck) child.kill('SIGKILL');
      }
      if (kind === 'STATE') {
        stateAtStart = Number(a);
        started = true;
      }
    }
  });
  // A safety net, not a timing assertion: a node that stops acknowledging fails the test here.
  let stuck = false;
  const guard = setTimeout(() => {
    stuck = true;
    child.kill('SIGKILL');
  }, 60_000);
  await killed;
  clearTimeout(guard);
  assert.ok(started, `the node started (stderr: ${err.slice(0, 500)})`);
  assert.not.ok(stuck, `the node acknowledged only ${acked.size} of ${killAtAck} proposals in a minute (stderr: ${err.slice(0, 500)})`);
  return { acked, stateAtStart };
}

test(`a node killed ${KILLS} times mid-proposal loses no acknowledged proposal (seed ${seed})`, withReplay(replay, async () => {
  const rng = new Rng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'actor-raft-node-crash-'));
  const [port] = await freePorts(1);
  const everAcked = new Map<number, number>();
  let nextSeq = 1;
  try {
    for (let k = 0; k < KILLS; k++) {
      const run = await runUntilKilled(dir, port!, nextSeq, rng.int(1, 64));
      assert.ok(run.stateAtStart >= everAcked.size, `run ${k}: restarted with ${run.stateAtStart} commands applied, ${everAcked.size} were acknowledged`);
      for (const [s, i] of run.acked) everAcked.set(s, i);
      nextSeq += 100_000; // each run proposes fresh commands
      // The child is dead and its lock released: read what the disk holds.
      const storage = await DiskStorage.open(dir, { nodeId: 1, clusterId: 'actor-raft' });
      try {
        const first = await storage.firstIndex();
        const last = await storage.lastIndex();
        const snap = await storage.snapshot();
        const inSnapshot = new Set(snap.metadata.index > 0 ? (JSON.parse(new TextDecoder().decode(snap.data)) as string[]) : []);
        const ents = last >= first ? await storage.entries(first, last + 1) : [];
        const byIndex = new Map(ents.map((e) => [e.index, e]));
        for (const [s, index] of everAcked) {
          if (index <= snap.metadata.index) {
            assert.ok(inSnapshot.has(`p${s}`), `run ${k}: acknowledged p${s} (index ${index}) is in the snapshot`);
            continue;
          }
          const e = byIndex.get(index);
          assert.ok(e, `run ${k}: acknowledged p${s} at index ${index} is on disk (log ${first}..${last}, snapshot ${snap.metadata.index})`);
          assert.is(e!.type, EntryType.Normal);
          assert.is(new TextDecoder().decode(unwrapProposal(e!.data)!.payload), `p${s}`, `run ${k}: index ${index} holds p${s}`);
        }
      } finally {
        await storage.close();
      }
    }
    assert.ok(everAcked.size > KILLS * 5, `${everAcked.size} proposals acknowledged over ${KILLS} runs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));

test.run();
