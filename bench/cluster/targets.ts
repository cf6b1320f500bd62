/**
 * The performance targets, each computed from figures of the same run: most are ratios to the floor
 * (scenario F) so that a busy or a fast machine moves both sides alike.
 */
import type { Figure } from './scenario.ts';
import { formatNumber } from './stats.ts';

export interface TargetResult {
  readonly name: string;
  readonly target: string;
  /** What was measured, as the table shows it. */
  readonly measured: string;
  /** The compared quantity (a ratio or an absolute figure); undefined when not measured. */
  readonly value?: number;
  readonly pass?: boolean;
}

interface Target {
  readonly name: string;
  readonly target: string;
  readonly needs: string[];
  /** The compared value, how to show it, and whether it passes. */
  evaluate(f: (key: string) => number): { value: number; measured: string; pass: boolean };
}

const fmt = formatNumber;
const pct = (x: number) => `${fmt(100 * x)} %`;

export const TARGETS: readonly Target[] = [
  {
    name: 'A1 sequential, median',
    target: '≤ 1.3× the floor\'s',
    needs: ['A1.median', 'F1.median'],
    evaluate: (f) => {
      const r = f('A1.median') / f('F1.median');
      return { value: r, measured: `${fmt(f('A1.median'))} ms vs ${fmt(f('F1.median'))} ms = ${fmt(r)}×`, pass: r <= 1.3 };
    },
  },
  {
    name: 'A2 16 B, 1,024 in flight',
    target: '≥ 50 % of the floor\'s commits/s',
    needs: ['A2.rate', 'F2.rate'],
    evaluate: (f) => {
      const r = f('A2.rate') / f('F2.rate');
      return { value: r, measured: `${fmt(f('A2.rate'))}/s vs ${fmt(f('F2.rate'))}/s = ${pct(r)}`, pass: r >= 0.5 };
    },
  },
  {
    name: 'A3 1 KiB, 256 in flight',
    target: '≥ 75 % of the floor\'s MB/s',
    needs: ['A3.mbps', 'F3.mbps'],
    evaluate: (f) => {
      const r = f('A3.mbps') / f('F3.mbps');
      return { value: r, measured: `${fmt(f('A3.mbps'))} MB/s vs ${fmt(f('F3.mbps'))} MB/s = ${pct(r)}`, pass: r >= 0.75 };
    },
  },
  {
    name: 'B core in one process',
    target: '≥ 300,000 proposals/s',
    needs: ['B.rate'],
    evaluate: (f) => ({ value: f('B.rate'), measured: `${fmt(f('B.rate'))}/s`, pass: f('B.rate') >= 300_000 }),
  },
  {
    name: 'C failover, 10 ms ticks, median',
    target: '≤ 1.5× the minimum election timeout (150 ms)',
    needs: ['C.tick10.median'],
    evaluate: (f) => ({ value: f('C.tick10.median'), measured: `${fmt(f('C.tick10.median'))} ms (max ${fmt(f('C.tick10.max'))} ms)`, pass: f('C.tick10.median') <= 150 }),
  },
  {
    name: 'D restart',
    target: '≤ 2 s',
    needs: ['D.restart'],
    evaluate: (f) => ({ value: f('D.restart'), measured: `${fmt(f('D.restart'))} ms`, pass: f('D.restart') <= 2000 }),
  },
  {
    name: 'D leader RSS growth',
    target: '≤ 10 %',
    needs: ['D.rssGrowth'],
    evaluate: (f) => ({ value: f('D.rssGrowth'), measured: `${fmt(f('D.rssBefore'))} → ${fmt(f('D.rssAfter'))} MiB = ${fmt(f('D.rssGrowth'))} %`, pass: f('D.rssGrowth') <= 10 }),
  },
  {
    name: 'E KV puts/s, 256 in flight',
    target: '≥ 2× etcd\'s',
    needs: ['E.ratio.rate256'],
    evaluate: (f) => ({ value: f('E.ratio.rate256'), measured: `${fmt(f('E.kv.rate256'))} vs ${fmt(f('E.etcd.rate256'))} puts/s = ${fmt(f('E.ratio.rate256'))}×`, pass: f('E.ratio.rate256') >= 2 }),
  },
  {
    name: 'E KV sequential put, median',
    target: 'below etcd\'s',
    needs: ['E.ratio.seqMedian'],
    evaluate: (f) => ({ value: f('E.ratio.seqMedian'), measured: `${fmt(f('E.kv.seqMedian'))} vs ${fmt(f('E.etcd.seqMedian'))} ms = ${fmt(f('E.ratio.seqMedian'))}×`, pass: f('E.ratio.seqMedian') < 1 }),
  },
];

export function evaluateTargets(figures: readonly Figure[]): TargetResult[] {
  const byKey = new Map(figures.map((x) => [x.key, x.value]));
  const f = (key: string): number => byKey.get(key) ?? Number.NaN;
  return TARGETS.map((t) => {
    if (!t.needs.every((k) => byKey.has(k))) return { name: t.name, target: t.target, measured: `not measured (needs ${t.needs.map((k) => k.split('.')[0]).filter((v, i, a) => a.indexOf(v) === i).join(' and ')})` };
    const r = t.evaluate(f);
    return { name: t.name, target: t.target, measured: r.measured, value: r.value, pass: r.pass };
  });
}
