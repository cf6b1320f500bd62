/**
 * The three loads of scenarios A and F, made in the leader's process: (1) one proposal at a
 * time, 16 B; (2) 1,024 in flight, 16 B; (3) 256 in flight, 1 KiB. The same for Raft and the floor,
 * so their ratio compares like with like.
 */
import { join } from 'node:path';
import type { LoadRequest, LoadResult } from './load.ts';
import { percentile, formatNumber } from './stats.ts';
import type { Context, FigureSet } from './scenario.ts';

export async function measureEmbedded(
  prefix: string,
  ctx: Context,
  run: number,
  figures: FigureSet,
  load: (req: LoadRequest) => Promise<LoadResult>,
  profileLeader: boolean,
): Promise<void> {
  const s = ctx.sizes;
  await load({ mode: 'window', count: Math.min(5_000, s.window16), size: 16, inflight: 256 }); // warm-up: JIT, connections, LevelDB files
  const seq = await load({ mode: 'sequential', count: s.sequential, size: 16 });
  const lat = seq.latencies!;
  figures.add(`${prefix}1.median`, `${prefix}1 sequential 16 B, median`, 'ms', percentile(lat, 0.5));
  figures.add(`${prefix}1.p99`, `${prefix}1 sequential 16 B, p99`, 'ms', percentile(lat, 0.99));
  const fsyncs =
    seq.leaderFsyncs !== undefined && seq.leaderFsyncs > 0
      ? `; the leader fsynced ${formatNumber(seq.leaderFsyncs / seq.count)} times per proposal, ${formatNumber((1000 * (seq.leaderFsyncSeconds ?? 0)) / seq.leaderFsyncs)} ms each`
      : '';
  ctx.progress(`${prefix}1 run ${run}: ${s.sequential} sequential, median ${formatNumber(percentile(lat, 0.5))} ms, p99 ${formatNumber(percentile(lat, 0.99))} ms${fsyncs}`);

  const profile = profileLeader && ctx.profileDir ? join(ctx.profileDir, `${prefix}2-leader-run${run}.cpuprofile`) : undefined;
  const w16 = await load({ mode: 'window', count: s.window16, size: 16, inflight: 1024, ...(profile ? { profile } : {}) });
  const perSec = w16.count / (w16.elapsedMs / 1000);
  figures.add(`${prefix}2.rate`, `${prefix}2 16 B, 1,024 in flight`, 'proposals/s', perSec);
  ctx.progress(`${prefix}2 run ${run}: ${w16.count} x 16 B in ${formatNumber(w16.elapsedMs)} ms = ${formatNumber(perSec)}/s${profile ? ` (profile: ${profile})` : ''}`);

  const w1k = await load({ mode: 'window', count: s.window1k, size: 1024, inflight: 256 });
  const mbps = w1k.bytes / 1e6 / (w1k.elapsedMs / 1000);
  figures.add(`${prefix}3.mbps`, `${prefix}3 1 KiB, 256 in flight`, 'MB/s', mbps);
  ctx.progress(`${prefix}3 run ${run}: ${w1k.count} x 1 KiB in ${formatNumber(w1k.elapsedMs)} ms = ${formatNumber(mbps)} MB/s`);
}
