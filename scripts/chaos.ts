/**
 * `npm run chaos -- --nodes 5 --minutes 10 --seed 42`: a black-box chaos run of the key-value
 * example on real OS processes (`actor-raft node`, DiskStorage, TCP through per-member proxies).
 *
 * Concurrent clients record a history of put / compare-and-swap / linearizable get (and write-once
 * keys) while a seeded nemesis kills, pauses, partitions and reconfigures the cluster. At the end
 * the faults heal, the members converge, and the run checks that
 *   1. the history is linearizable (the checker of `actor-raft/sim`),
 *   2. every acknowledged write-once key is present,
 *   3. every member's state machine is identical (same applied index and digest).
 * It prints a report and exits 1 on any violation (2 on a bad command line).
 *
 * Options: --nodes N (3), --minutes M (1; fractions allowed), --seconds S (overrides --minutes),
 * --seed S (random when absent; printed), --clients C (4), --faults kind,kind (all), --tick MS (50),
 * --keep (keep the data and logs even when the run passes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkLinearizable } from '../src/sim/linearizability.ts';
import { kvModel } from '../src/sim/linearizability-models.ts';
import { Rng } from '../src/raft/rng.ts';
import { ChaosCluster, http, sleep } from './chaos-cluster.ts';
import { ChaosClients } from './chaos-clients.ts';
import { FAULT_KINDS, type FaultKind, Nemesis } from './chaos-nemesis.ts';

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\nusage: npm run chaos -- [--nodes 3] [--minutes 1 | --seconds S] [--seed S] [--clients 4] [--faults ${FAULT_KINDS.join(',')}] [--tick 50] [--keep]\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    minutes: { type: 'string', default: '1' },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '4' },
    faults: { type: 'string' },
    tick: { type: 'string', default: '50' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});

const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) usage('--nodes must be an integer from 1 to 9');
const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes) * 60;
if (!Number.isFinite(seconds) || seconds <= 0) usage('--minutes / --seconds must be a positive number');
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isSafeInteger(seed)) usage('--seed must be an integer');
const clientCount = Number(values.clients);
if (!Number.isInteger(clientCount) || clientCount < 1) usage('--clients must be a positive integer');
const tickMs = Number(values.tick);
if (!Number.isInteger(tickMs) || tickMs < 1) usage('--tick must be a positive integer');
const kinds = (values.faults ? values.faults.split(',').map((s) => s.trim()).filter(Boolean) : [...FAULT_KINDS]) as FaultKind[];
for (const k of kinds) if (!FAULT_KINDS.includes(k)) usage(`unknown fault kind ${JSON.stringify(k)}; kinds: ${FAULT_KINDS.join(', ')}`);

const replay = `npm run chaos -- --nodes ${nodes} --seconds ${seconds} --seed ${seed} --clients ${clientCount}${values.faults ? ` --faults ${values.faults}` : ''}`;
const out = (s: string) => process.stdout.write(`${s}\n`);

async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return true;
    await sleep(250);
  }
  out(`  gave up waiting for ${what} after ${timeoutMs / 1000} s`);
  return false;
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), `actor-raft-chaos-${seed}-`));
  out(`chaos: ${nodes} members, ${seconds} s, ${clientCount} clients, seed ${seed}, faults ${kinds.join(',')}`);
  out(`  data and logs: ${root}`);
  const diskKinds = kinds.filter((k) => k === 'disk-full' || k === 'disk-fail');
  const cluster = await ChaosCluster.create(root, nodes, tickMs, { disks: diskKinds.length > 0 });
  if (diskKinds.length > 0) out(cluster.disks ? '  data directories: ext4 on loop devices over tmpfs, one per member (chaos-disk.ts)' : `  ${diskKinds.join(' and ')} need a disk per member (${cluster.disksProblem}): skipped`);
  const violations: string[] = [];
  let passed = false;
  try {
    for (const m of cluster.members) cluster.start(m);
    if (!(await waitFor('a first leader', async () => (await cluster.leader()) !== undefined, 60_000))) {
      violations.push('no leader elected within 60 s of starting');
      return report();
    }
    const clients = new ChaosClients(cluster, seed);
    const nemesis = new Nemesis(cluster, new Rng(seed), kinds, () => clients.now());

    // Leader changes, seen by polling every member.
    let leaderChanges = 0;
    let lastLeader = '';
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        const l = await cluster.leader();
        if (l) {
          const s = await cluster.status(l);
          const key = `${l.id}@${s?.term ?? '?'}`;
          if (key !== lastLeader) {
            if (lastLeader) leaderChanges++;
            lastLeader = key;
          }
        }
        await sleep(300);
      }
    })();

    clients.start(clientCount);
    nemesis.start();
    const runUntil = Date.now() + seconds * 1000;
    let lastProgress = Date.now();
    while (Date.now() < runUntil) {
      await sleep(500);
      if (Date.now() - lastProgress >= 60_000) {
        lastProgress = Date.now();
        out(`  ${Math.round(clients.now() / 1000)} s: ${clients.history.length} operations recorded, faults ${[...nemesis.injected.values()].reduce((a, b) => a + b, 0)}`);
      }
    }
    await nemesis.stop();
    await clients.stop();

    // Heal: every member running, the network whole.
    cluster.rules.heal();
    for (const m of cluster.current) {
      if (m.state === 'paused') cluster.resume(m);
      if (!m.child) cluster.start(m);
    }
    const end = clients.now();
    out('healed; waiting for the members to converge');
    await waitFor('a leader after healing', async () => (await cluster.leader()) !== undefined, 60_000);
    // Final linearizable reads of every key, through the leader (retried until answered).
    for (const key of clients.usedKeys()) {
      for (let i = 0; i < 40; i++) {
        const l = await cluster.leader();
        if (l && (await clients.get(0, cluster.httpAddress(l), key))) break;
        await sleep(250);
      }
    }
    let digests: ({ applied: number; count: number; digest: string } | undefined)[] = [];
    const converged = await waitFor(
      'identical state machines',
      async () => {
        digests = await Promise.all(cluster.current.map((m) => cluster.digest(m)));
        return digests.every((d) => d !== undefined && d.applied === digests[0]!.applied && d.digest === digests[0]!.digest);
      },
      60_000,
    );
    monitoring = false;
    await monitor;
    if (!converged) {
      violations.push(`members did not converge: ${cluster.current.map((m, i) => `${m.id}: ${JSON.stringify(digests[i] ?? 'no answer')}`).join('; ')}`);
    }

    // Every acknowledged write-once key present.
    let missing: string[] = [];
    const l = await cluster.leader();
    if (l) {
      const a = await http('GET', `http://${cluster.httpAddress(l)}/kv?prefix=u/`, undefined, 10_000).catch(() => undefined);
      if (a && a.status === 200) {
        const keys = new Set((JSON.parse(a.body) as { keys: string[] }).keys);
        missing = clients.acknowledgedUnique.filter((k) => !keys.has(k));
        if (missing.length > 0) violations.push(`${missing.length} acknowledged write-once keys are missing: ${missing.slice(0, 10).join(', ')}`);
      } else violations.push('could not list the write-once keys after healing');
    } else violations.push('no leader to list the write-once keys after healing');

    violations.push(...nemesis.violations);
    // The history.
    const check = checkLinearizable(kvModel, clients.history, { timeoutMs: 120_000 });
    if (check.verdict === 'not linearizable') {
      // Writes answered "not applied" on that key around the failure: a wrong answer shows here.
      const ops = check.explanation.operations;
      const from = Math.min(...ops.map((o) => o.call));
      const to = Math.max(...ops.map((o) => o.return ?? o.call));
      const near = clients.notApplied.filter((w) => w.input.key === check.explanation.key && w.return >= from && w.call <= to);
      violations.push(
        check.explanation.text +
          (near.length > 0
            ? `\nwrites on that key answered "not applied" meanwhile (left out of the history):\n${near.map((w) => `  client ${w.client} [${w.call.toFixed(0)}, ${w.return.toFixed(0)}] ${JSON.stringify(w.input)} via ${w.target}: ${w.answer}`).join('\n')}`
            : ''),
      );
    }
    if (check.verdict === 'unknown') violations.push(`linearizability not decided: ${check.reason}`);

    const outage = clients.longestUnavailability(end);
    out('');
    out('operations (ok / proven not applied / unknown outcome):');
    for (const [kind, c] of Object.entries(clients.counts)) out(`  ${kind.padEnd(7)} ${String(c.ok).padStart(6)} ok  ${String(c.failed).padStart(6)} failed  ${String(c.unknown).padStart(6)} unknown`);
    out(`  answers by status: ${[...clients.statuses].sort().map(([s, n]) => `${s}: ${n}`).join(', ')}`);
    out(`history: ${clients.history.length} operations on ${clients.usedKeys().length} keys checked: ${check.verdict} (${check.elapsedMs} ms)`);
    out(`write-once keys: ${clients.acknowledgedUnique.length} acknowledged, ${missing.length} missing`);
    out(`state machines: ${converged ? `identical on ${cluster.current.length} members (applied ${digests[0]?.applied}, ${digests[0]?.count} keys)` : 'DIFFERENT'}`);
    out(`faults injected: ${[...nemesis.injected].map(([k, n]) => `${k} ${n}${nemesis.incomplete.get(k) ? ` (${nemesis.incomplete.get(k)} incomplete)` : ''}`).join(', ') || 'none'}`);
    out(`leader changes: ${leaderChanges}`);
    out(`longest unavailability: ${(outage.ms / 1000).toFixed(1)} s (from ${(outage.from / 1000).toFixed(1)} s)`);
    writeFileSync(join(root, 'nemesis.log'), nemesis.log.join('\n') + '\n');
    if (process.env.CHAOS_VERBOSE === undefined) {
      out(`nemesis log (last 15; all of it in ${join(root, 'nemesis.log')}):`);
      for (const line of nemesis.log.slice(-15)) out(`  ${line}`);
    }
    passed = violations.length === 0;
    return report();
  } finally {
    await cluster.stop();
    if (passed && !values.keep) rmSync(root, { recursive: true, force: true });
  }

  function report(): number {
    out('');
    if (violations.length === 0) {
      out(`PASS (seed ${seed}); replay: ${replay}`);
      return 0;
    }
    out(`FAIL (seed ${seed}): ${violations.length} violation(s)`);
    for (const v of violations) out(v);
    out(`data and logs kept in ${root}`);
    out(`replay: ${replay}`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
