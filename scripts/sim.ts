/**
 * `npm run sim`: the long randomized run. Examples:
 *   npm run sim -- --seeds 20000            seeds 1..20000, split over every core
 *   npm run sim -- --seed 1234              replay one seed (prints its summary or its failure)
 *   npm run sim -- --seeds 500 --ticks 5000 --nodes 5
 *   npm run sim -- --membership --seeds 5000     membership-churn schedules instead
 * Prints a summary; exits 1 if any seed fails, with the command that replays each failing seed.
 */
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runRandomSchedule, type ScheduleResult } from '../src/sim/random-schedule.ts';
import { runMembershipSchedule } from '../src/sim/membership-schedule.ts';
import { ScheduleFailure, replayCommand } from '../src/sim/schedule-failure.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    seed: { type: 'string' },
    from: { type: 'string', default: '1' },
    ticks: { type: 'string', default: '2000' },
    nodes: { type: 'string' },
    workers: { type: 'string', default: String(cpus().length) },
    worker: { type: 'boolean', default: false },
    membership: { type: 'boolean', default: false },
    'no-unreachable': { type: 'boolean', default: false },
  },
});

const ticks = Number(values.ticks);
/** `--no-unreachable`: the network model of seeds recorded before senders heard of unreachable peers. */
const reportUnreachable = !values['no-unreachable'];
const nodes = values.nodes ? Number(values.nodes) : undefined;

interface Outcome {
  seed: number;
  result?: ScheduleResult;
  error?: string;
}

function runOne(seed: number): Outcome {
  try {
    if (values.membership) {
      const r = runMembershipSchedule(seed);
      return { seed, result: { seed, nodes: r.finalVoters.length, steps: r.steps, ticks: 0, crashes: 0, amnesias: 0, identityRefusals: 0, partitions: 0, unreachableReports: 0, breakerOpens: 0, proposed: r.changes, committed: 0, maxTerm: 0 } };
    }
    return { seed, result: runRandomSchedule(seed, { ticks, nodes, reportUnreachable }) };
  } catch (err) {
    // A ScheduleFailure already ends with its replay command; anything else (a bug in this
    // script) gets one too, so no failing seed is ever reported without it.
    const replay = replayCommand(seed, { membership: values.membership, ticks, nodes, reportUnreachable });
    const error = err instanceof ScheduleFailure ? err.message : `seed ${seed}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n    replay: ${replay}`;
    return { seed, error };
  }
}

if (values.worker) {
  // Worker: seeds arrive on IPC, outcomes go back.
  process.on('message', (seed: number) => process.send!(runOne(seed)));
} else if (values.seed !== undefined) {
  const o = runOne(Number(values.seed));
  console.log(o.error ?? JSON.stringify(o.result, null, 2));
  process.exit(o.error ? 1 : 0);
} else {
  const first = Number(values.from);
  const count = Number(values.seeds);
  const workers = Math.max(1, Number(values.workers));
  const started = Date.now();
  const outcomes: Outcome[] = [];
  let next = first;
  const last = first + count - 1;
  const self = fileURLToPath(import.meta.url);
  const args = ['--worker', '--ticks', String(ticks), ...(nodes ? ['--nodes', String(nodes)] : []), ...(values.membership ? ['--membership'] : []), ...(reportUnreachable ? [] : ['--no-unreachable'])];
  await Promise.all(
    Array.from({ length: workers }, () => {
      const child = fork(self, args, { execArgv: ['--import', 'tsx'] });
      return new Promise<void>((resolve) => {
        const feed = () => {
          if (next > last) {
            child.kill();
            resolve();
            return;
          }
          child.send(next++);
        };
        child.on('message', (o: Outcome) => {
          outcomes.push(o);
          if (o.error) console.log(o.error);
          if (outcomes.length % 100 === 0) console.log(`${outcomes.length}/${count} seeds...`);
          feed();
        });
        feed();
      });
    }),
  );
  const ok = outcomes.filter((o) => o.result).map((o) => o.result!);
  const failed = outcomes.filter((o) => o.error);
  const secs = (Date.now() - started) / 1000;
  const sum = (k: keyof ScheduleResult) => ok.reduce((a, r) => a + (r[k] as number), 0);
  console.log('\nsimulation summary');
  if (values.membership) {
    console.log(`  seeds        ${first}..${last} (${count}) of membership churn, ${workers} workers, ${secs.toFixed(1)} s`);
    console.log(`  steps        ${sum('steps')} (${Math.round(sum('steps') / secs)}/s)`);
    console.log(`  changes      ${sum('proposed')} membership changes applied`);
  } else {
    console.log(`  seeds        ${first}..${last} (${count}), ${ticks} ticks each, ${workers} workers, ${secs.toFixed(1)} s`);
    console.log(`  steps        ${sum('steps')} (${Math.round(sum('steps') / secs)}/s)`);
    console.log(`  ticks        ${sum('ticks')} (${Math.round(sum('ticks') / secs)}/s)`);
    console.log(`  crashes      ${sum('crashes')}, partitions ${sum('partitions')}`);
    console.log(`  amnesia      ${sum('amnesias')} disks wiped (${ok.filter((r) => r.amnesias > 0).length} seeds), ${sum('identityRefusals')} identity refusals`);
    console.log(`  breakers     ${sum('unreachableReports')} unreachable reports, ${sum('breakerOpens')} circuit breakers opened (${ok.filter((r) => r.breakerOpens > 0).length} seeds)`);
    console.log(`  proposals    ${sum('proposed')} proposed, ${sum('committed')} committed`);
  }
  console.log(`  failures     ${failed.length}${failed.length ? ': seeds ' + failed.map((f) => f.seed).join(', ') : ''}`);
  for (const f of failed.slice(0, 20)) console.log(`    ${replayCommand(f.seed, { membership: values.membership, ticks, nodes })}`);
  process.exit(failed.length === 0 ? 0 : 1);
}
