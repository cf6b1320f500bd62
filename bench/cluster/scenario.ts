/**
 * What a scenario is: a name, a title and a `run` that measures its figures `ctx.runs` times and
 * reports each figure with every run's value; the figure's value is the median of its runs.
 */
import { median } from './stats.ts';

export interface Figure {
  /** Stable key, e.g. "A1.median": the targets and the JSON file use it. */
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** One value per run. */
  readonly runs: number[];
  /** The median of the runs (for a maximum, the scenario may say otherwise in `note`). */
  readonly value: number;
  readonly note?: string;
}

export interface Sizes {
  /** Embedded loads (A and F). */
  sequential: number;
  window16: number;
  window1k: number;
  /** B: proposals per run. */
  core: number;
  /** C: leader kills per run. */
  kills: number;
  /** D: entries written before the restart, and proposals between the two RSS readings. */
  restartEntries: number;
  rssProposals: number;
  /** E: puts in each phase, and sequential reads. */
  kvPuts: number;
  kvReads: number;
}

export const FULL_SIZES: Sizes = {
  sequential: 2_000,
  window16: 60_000,
  window1k: 20_000,
  core: 200_000,
  kills: 20,
  restartEntries: 1_000_000,
  rssProposals: 5_000_000,
  kvPuts: 20_000,
  kvReads: 5_000,
};

export const QUICK_SIZES: Sizes = {
  sequential: 100,
  window16: 3_000,
  window1k: 1_000,
  core: 5_000,
  kills: 2,
  restartEntries: 20_000,
  rssProposals: 30_000,
  kvPuts: 500,
  kvReads: 200,
};

export interface Context {
  readonly runs: number;
  readonly quick: boolean;
  readonly sizes: Sizes;
  /** Directory for CPU profiles (set by --profile). */
  readonly profileDir?: string | undefined;
  /** A progress line. */
  progress(line: string): void;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  run(ctx: Context): Promise<Figure[]>;
}

/** Collects per-run values under keys and turns them into figures. */
export class FigureSet {
  private readonly values = new Map<string, { label: string; unit: string; runs: number[]; note?: string | undefined; max: boolean }>();

  /** `aggregate: 'max'` makes the figure the largest run instead of the median (a worst case). */
  add(key: string, label: string, unit: string, value: number, note?: string, aggregate: 'median' | 'max' = 'median'): void {
    const f = this.values.get(key) ?? { label, unit, runs: [], note, max: aggregate === 'max' };
    f.runs.push(value);
    this.values.set(key, f);
  }

  figures(): Figure[] {
    return [...this.values].map(([key, f]) => ({ key, label: f.label, unit: f.unit, runs: f.runs, value: f.max ? Math.max(...f.runs) : median(f.runs), ...(f.note ? { note: f.note } : {}) }));
  }
}
