/**
 * `npm run bench`: the cluster scenarios of docs/performance.md (A–F), a progress line per phase,
 * a table of figures and of the performance targets at the end, and the whole result in
 * `bench/results/<date>.json`.
 *
 *   npm run bench                       every cluster scenario, 3 runs each (takes long: see the doc)
 *   npm run bench -- A C                only scenarios A and C (F, the floor, is added when A runs)
 *   npm run bench -- --quick B F        small sizes, 1 run: a check that everything runs
 *   npm run bench -- --runs 5 --runs-D 1 --profile
 *   npm run bench -- D --size restartEntries=200000 --size rssProposals=1000000
 *   npm run bench -- storage            a micro-benchmark (bench/*.bench.ts) by name; `micro` runs them all
 *
 * Each scenario and each micro-benchmark runs its members in processes of their own, so one's
 * garbage or open handles never skew the next.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FULL_SIZES, QUICK_SIZES, type Figure, type Scenario, type Sizes } from './cluster/scenario.ts';
import { scenarioA } from './cluster/scenario-a.ts';
import { scenarioB } from './cluster/scenario-b.ts';
import { scenarioC } from './cluster/scenario-c.ts';
import { scenarioD } from './cluster/scenario-d.ts';
import { scenarioE } from './cluster/scenario-e.ts';
import { scenarioF } from './cluster/scenario-f.ts';
import { evaluateTargets } from './cluster/targets.ts';
import { summarizeProfile } from './cluster/profile-summary.ts';
import { formatNumber } from './cluster/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
/** F first: the targets are ratios to it. */
const SCENARIOS: readonly Scenario[] = [scenarioF, scenarioA, scenarioB, scenarioC, scenarioD, scenarioE];
const micro = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();

const USAGE = `usage: npm run bench -- [A B C D E F] [micro | ${micro.map((f) => f.replace('.bench.ts', '')).join(' | ')}] [--quick] [--runs N] [--runs-<X> N] [--profile] [--size NAME=N] [--out FILE]`;

interface Options {
  scenarios: Scenario[];
  micro: string[];
  quick: boolean;
  runs: number;
  runsOf: Record<string, number>;
  profile: boolean;
  out?: string;
  /** `--size name=value`: one size changed (the names of `Sizes` in cluster/scenario.ts). */
  sizes: Partial<Sizes>;
}

function parse(argv: readonly string[]): Options {
  const o: Options = { scenarios: [], micro: [], quick: false, runs: 0, runsOf: {}, profile: false, sizes: {} };
  const count = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--runs') o.runs = count(a, argv[++i]);
    else if (/^--runs-[A-Fa-f]$/.test(a)) o.runsOf[a.slice(-1).toUpperCase()] = count(a, argv[++i]);
    else if (a === '--out') o.out = argv[++i] ?? '';
    else if (a === '--size') {
      const [name, value] = (argv[++i] ?? '').split('=');
      if (!name || !(name in FULL_SIZES)) throw new Error(`--size takes name=value with a name among ${Object.keys(FULL_SIZES).join(', ')}`);
      o.sizes[name as keyof Sizes] = count(`--size ${name}`, value);
    }
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (/^[A-Fa-f]$/.test(a)) o.scenarios.push(SCENARIOS.find((s) => s.name === a.toUpperCase())!);
    else if (a === 'micro') o.micro.push(...micro);
    else {
      const files = micro.filter((f) => f.includes(a));
      if (files.length === 0) throw new Error(`unknown scenario or benchmark "${a}"`);
      o.micro.push(...files);
    }
  }
  if (o.scenarios.length === 0 && o.micro.length === 0) o.scenarios = [...SCENARIOS];
  if (o.scenarios.includes(scenarioA) && !o.scenarios.includes(scenarioF)) o.scenarios.push(scenarioF);
  o.scenarios = SCENARIOS.filter((s) => o.scenarios.includes(s));
  o.micro = [...new Set(o.micro)];
  if (o.runs === 0) o.runs = o.quick ? 1 : 3;
  return o;
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const load = () => loadavg().map((x) => Number(x.toFixed(2)));

let opts: Options;
try {
  opts = parse(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

const started = new Date();
const machine = { cores: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)) };
const revision = git('rev-parse', 'HEAD');
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
console.log(`# actor-raft benchmarks: node ${process.version}, ${machine.cores} x ${machine.cpuModel}, revision ${revision.slice(0, 10)}${dirty ? ' (modified)' : ''}, load average ${load().join(' ')}`);

let failed = 0;
for (const f of opts.micro) {
  console.log(`\n## ${f}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}

if (opts.scenarios.length > 0) {
  const sizes: Sizes = { ...(opts.quick ? QUICK_SIZES : FULL_SIZES), ...opts.sizes };
  const profileDir = opts.profile ? join(repo, '.bench', 'profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const t0 = performance.now();
  const progress = (line: string): void => {
    const clock = new Date().toISOString().slice(11, 19);
    console.log(`[${clock} +${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  };
  const results: { name: string; title: string; runs: number; loadBefore: number[]; loadAfter: number[]; seconds: number; figures: Figure[]; error?: string }[] = [];
  for (const s of opts.scenarios) {
    const runs = opts.runsOf[s.name] ?? opts.runs;
    const loadBefore = load();
    progress(`${s.name}: ${s.title} (${runs} run${runs === 1 ? '' : 's'}, load average ${loadBefore.join(' ')})`);
    const st = performance.now();
    try {
      const figures = await s.run({ runs, quick: opts.quick, sizes, profileDir, progress });
      results.push({ name: s.name, title: s.title, runs, loadBefore, loadAfter: load(), seconds: (performance.now() - st) / 1000, figures });
    } catch (err) {
      failed++;
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      progress(`${s.name} FAILED: ${msg}`);
      results.push({ name: s.name, title: s.title, runs, loadBefore, loadAfter: load(), seconds: (performance.now() - st) / 1000, figures: [], error: msg });
    }
  }

  const all = results.flatMap((r) => r.figures);
  console.log(`\n## Figures (the median of the runs unless the label says max; load average at start ${results[0]?.loadBefore.join(' ')}, at end ${load().join(' ')})\n`);
  console.log('| figure | value | unit | runs |');
  console.log('|---|---:|---|---|');
  for (const f of all) console.log(`| ${f.label} | ${formatNumber(f.value)} | ${f.unit} | ${f.runs.map((x) => formatNumber(x)).join(', ')} |`);

  const targets = evaluateTargets(all);
  console.log('\n## Targets (ratios to the floor F measured in this run)\n');
  console.log('| scenario | target | measured | result |');
  console.log('|---|---|---|---|');
  for (const t of targets) console.log(`| ${t.name} | ${t.target} | ${t.measured} | ${t.pass === undefined ? '—' : t.pass ? 'pass' : 'FAIL'} |`);

  const profiles: { file: string; totalMs: number; frames: { frame: string; selfPct: number }[]; modules: { frame: string; selfPct: number }[] }[] = [];
  if (profileDir) {
    for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile'))) {
      const file = join(profileDir, f);
      const s = summarizeProfile(file, 20);
      profiles.push({ file: relative(repo, file), ...s });
      console.log(`\n## CPU profile ${relative(repo, file)} (${formatNumber(s.totalMs)} ms): self time by frame\n`);
      for (const fr of s.frames) console.log(`${fr.selfPct.toFixed(1).padStart(6)} %  ${fr.frame}`);
      console.log('\nby module:\n');
      for (const fr of s.modules) console.log(`${fr.selfPct.toFixed(1).padStart(6)} %  ${fr.frame}`);
    }
  }

  const out = opts.out ?? (opts.quick ? undefined : join(here, 'results', `${started.toISOString().slice(0, 19).replace(/:/g, '-')}Z.json`));
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    const doc = {
      date: started.toISOString(),
      machine,
      node: process.version,
      git: { revision, modified: dirty },
      options: { runs: opts.runs, runsOf: opts.runsOf, quick: opts.quick, sizes },
      loadAverage: { start: results[0]?.loadBefore, end: load() },
      scenarios: results,
      targets,
      profiles,
    };
    writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`\nresults: ${relative(process.cwd(), out)}`);
  } else console.log('\n(quick mode: results not saved; pass --out FILE to keep them)');
}
process.exit(failed === 0 ? 0 : 1);
