/**
 * The benchmark itself works: the floor (scenario F) and the core (scenario B, through
 * `npm run bench -- --quick`) run end to end and report every figure with its runs, the results
 * file carries the machine and the revision, the targets are judged at their boundaries, and the
 * statistics are the usual ones. No timing is asserted: timings belong to the benchmark.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scenarioF } from '../bench/cluster/scenario-f.ts';
import { QUICK_SIZES, type Figure } from '../bench/cluster/scenario.ts';
import { evaluateTargets } from '../bench/cluster/targets.ts';
import { median, percentile } from '../bench/cluster/stats.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

test('median and percentile', () => {
  const cases: [number[], number, number, number][] = [
    // samples, median, p50, p99
    [[5], 5, 5, 5],
    [[3, 1, 2], 2, 2, 3],
    [[4, 1, 3, 2], 2.5, 2, 4],
    [Array.from({ length: 100 }, (_, i) => 100 - i), 50.5, 50, 99],
  ];
  for (const [xs, m, p50, p99] of cases) {
    assert.is(median(xs), m, `median of ${xs.length}`);
    assert.is(percentile(xs, 0.5), p50, `p50 of ${xs.length}`);
    assert.is(percentile(xs, 0.99), p99, `p99 of ${xs.length}`);
  }
  assert.ok(Number.isNaN(median([])));
});

const fig = (key: string, value: number): Figure => ({ key, label: key, unit: '', runs: [value], value });

test('targets are judged at their boundaries, as ratios to the floor of the same run', () => {
  const cases: { figures: Figure[]; name: string; pass: boolean | undefined }[] = [
    { figures: [fig('A1.median', 1.3), fig('F1.median', 1)], name: 'A1 sequential, median', pass: true },
    { figures: [fig('A1.median', 1.31), fig('F1.median', 1)], name: 'A1 sequential, median', pass: false },
    { figures: [fig('A1.median', 1)], name: 'A1 sequential, median', pass: undefined },
    { figures: [fig('A2.rate', 50), fig('F2.rate', 100)], name: 'A2 16 B, 1,024 in flight', pass: true },
    { figures: [fig('A2.rate', 49.9), fig('F2.rate', 100)], name: 'A2 16 B, 1,024 in flight', pass: false },
    { figures: [fig('A3.mbps', 7.5), fig('F3.mbps', 10)], name: 'A3 1 KiB, 256 in flight', pass: true },
    { figures: [fig('A3.mbps', 7.4), fig('F3.mbps', 10)], name: 'A3 1 KiB, 256 in flight', pass: false },
    { figures: [fig('B.rate', 300_000)], name: 'B core in one process', pass: true },
    { figures: [fig('B.rate', 299_999)], name: 'B core in one process', pass: false },
    { figures: [fig('C.tick10.median', 150), fig('C.tick10.max', 400)], name: 'C failover, 10 ms ticks, median', pass: true },
    { figures: [fig('C.tick10.median', 151), fig('C.tick10.max', 400)], name: 'C failover, 10 ms ticks, median', pass: false },
    { figures: [fig('D.restart', 2000)], name: 'D restart', pass: true },
    { figures: [fig('D.restart', 2001)], name: 'D restart', pass: false },
    { figures: [fig('D.rssGrowth', 10), fig('D.rssBefore', 100), fig('D.rssAfter', 110)], name: 'D leader RSS growth', pass: true },
    { figures: [fig('D.rssGrowth', 10.5), fig('D.rssBefore', 100), fig('D.rssAfter', 110.5)], name: 'D leader RSS growth', pass: false },
    { figures: [fig('E.ratio.rate256', 2), fig('E.kv.rate256', 2), fig('E.etcd.rate256', 1)], name: 'E KV puts/s, 256 in flight', pass: true },
    { figures: [fig('E.ratio.rate256', 1.9), fig('E.kv.rate256', 1.9), fig('E.etcd.rate256', 1)], name: 'E KV puts/s, 256 in flight', pass: false },
    { figures: [fig('E.ratio.seqMedian', 0.99), fig('E.kv.seqMedian', 0.99), fig('E.etcd.seqMedian', 1)], name: 'E KV sequential put, median', pass: true },
    { figures: [fig('E.ratio.seqMedian', 1), fig('E.kv.seqMedian', 1), fig('E.etcd.seqMedian', 1)], name: 'E KV sequential put, median', pass: false },
  ];
  for (const c of cases) {
    const t = evaluateTargets(c.figures).find((x) => x.name === c.name)!;
    assert.is(t.pass, c.pass, `${c.name} with ${c.figures.map((f) => `${f.key}=${f.value}`).join(', ')}: ${t.measured}`);
    if (c.pass === undefined) assert.match(t.measured, /^not measured/);
  }
});

test('the floor runs its three loads in three processes and reports each figure', async () => {
  const sizes = { ...QUICK_SIZES, sequential: 20, window16: 300, window1k: 100 };
  const lines: string[] = [];
  const figures = await scenarioF.run({ runs: 1, quick: true, sizes, progress: (l) => lines.push(l) });
  assert.equal(figures.map((f) => f.key), ['F1.median', 'F1.p99', 'F2.rate', 'F3.mbps']);
  for (const f of figures) {
    assert.is(f.runs.length, 1, f.key);
    assert.ok(f.runs.every((x) => Number.isFinite(x) && x > 0), `${f.key}: ${f.runs.join(', ')}`);
    assert.is(f.value, median(f.runs), f.key);
  }
  assert.ok(figures[1]!.value >= figures[0]!.value, 'p99 is not below the median');
  assert.is(lines.filter((l) => /^F[123] run 1: /.test(l)).length, 3, lines.join('\n'));
});

test('npm run bench -- --quick B --out FILE: progress, the tables, and a results file with the machine and the revision', () => {
  const dir = mkdtempSync(join(tmpdir(), 'actor-raft-bench-test-'));
  try {
    const out = join(dir, 'result.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--quick', 'B', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /\] B run 1: 5000 x 16 B in /);
    assert.match(r.stdout, /\| B core, 16 B, 4,096 in flight \| [\d,.]+ \| proposals\/s \|/);
    assert.match(r.stdout, /\| B core in one process \| ≥ 300,000 proposals\/s \| [\d,.]+\/s \| (pass|FAIL) \|/);
    assert.match(r.stdout, /\| A1 sequential, median \| .* \| not measured/);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    assert.is(doc.machine.cores > 0, true);
    assert.type(doc.machine.cpuModel, 'string');
    assert.is(doc.node, process.version);
    assert.match(doc.git.revision, /^[0-9a-f]{40}$/);
    assert.equal(doc.scenarios.map((s: { name: string }) => s.name), ['B']);
    const b = doc.scenarios[0].figures.find((f: Figure) => f.key === 'B.rate');
    assert.is(b.runs.length, 1);
    assert.is(typeof doc.targets.find((t: { name: string }) => t.name === 'B core in one process').pass, 'boolean');
    assert.equal(doc.loadAverage.start.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown scenario is a usage error that lists what exists', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), 'Z9'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown scenario or benchmark "Z9"/);
  assert.match(r.stderr, /usage: npm run bench -- \[A B C D E F\]/);
});

test.run();
