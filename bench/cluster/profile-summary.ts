/**
 * The top frames of a V8 CPU profile (`.cpuprofile`, as `node --cpu-prof` or the inspector's
 * Profiler writes it) by self time: where the process spent its CPU, the first thing to read
 * before optimizing. Runnable on its own: `node --import tsx bench/cluster/profile-summary.ts FILE [N]`.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface FrameShare {
  readonly frame: string;
  /** Percent of the samples in which this frame was on top (self time). */
  readonly selfPct: number;
}

const repo = fileURLToPath(new URL('../../', import.meta.url));

function frameName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = functionName || (url ? '(anonymous)' : '');
  if (!url) return fn || '(native)';
  let where = url.startsWith('file://') ? relative(repo, fileURLToPath(url)) : url;
  where = where.replace(/^.*node_modules\//, '');
  return `${fn} ${where}:${lineNumber + 1}`;
}

/** Where a frame lives, coarsely: a package, a source directory, or the frame itself (native, GC). */
function moduleName(frame: string): string {
  const at = frame.lastIndexOf(' ');
  if (at < 0 || frame.startsWith('(')) return frame;
  const where = frame.slice(at + 1).replace(/:\d+$/, '');
  if (where.startsWith('node:')) return 'node internals';
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\/(dist|lib|pack|unpack)/.exec(where);
  if (pkg && !where.startsWith('src/')) return pkg[1]!;
  return where.startsWith('src/') ? where.split('/').slice(0, 2).join('/') : where;
}

/** Self-time shares of the `top` heaviest frames, in percent of all samples. */
export function summarizeProfile(file: string, top = 15): { totalMs: number; frames: FrameShare[]; modules: FrameShare[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  if (p.samples) for (const s of p.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
  else for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  let total = 0;
  const byFrame = new Map<string, number>();
  const byModule = new Map<string, number>();
  for (const [id, h] of hits) {
    const n = byId.get(id);
    if (!n) continue;
    total += h;
    const name = frameName(n);
    byFrame.set(name, (byFrame.get(name) ?? 0) + h);
    const module = moduleName(name);
    byModule.set(module, (byModule.get(module) ?? 0) + h);
  }
  const share = (m: Map<string, number>, n: number): FrameShare[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([frame, h]) => ({ frame, selfPct: (100 * h) / Math.max(1, total) }));
  return { totalMs: (p.endTime - p.startTime) / 1000, frames: share(byFrame, top), modules: share(byModule, top) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary.ts FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  const s = summarizeProfile(file, Number(process.argv[3] ?? 25));
  console.log(`${file}: ${Math.round(s.totalMs)} ms profiled; self time by frame:`);
  for (const f of s.frames) console.log(`${f.selfPct.toFixed(1).padStart(6)} %  ${f.frame}`);
  console.log('self time by module:');
  for (const f of s.modules) console.log(`${f.selfPct.toFixed(1).padStart(6)} %  ${f.frame}`);
}
