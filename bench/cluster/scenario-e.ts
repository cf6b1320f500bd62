/**
 * Scenario E: the key-value example against etcd under the same client load, in the same run:
 * 16-byte values over 1,000 keys; N sequential puts (latency), N puts with 256 in flight
 * (puts/s), then sequential linearizable reads (latency). Each run starts both services afresh;
 * the ratios are taken run by run. Skipped, saying so, when `etcd` is not installed.
 */
import { buildCli, etcdInstalled, startEtcd, startKvExample, type KvService } from './kv-servers.ts';
import { keepAliveAgent, sequential, windowed } from './http-client.ts';
import { FigureSet, type Context, type Scenario } from './scenario.ts';
import { formatNumber, percentile } from './stats.ts';

const KEYS = 1_000;
const key = (i: number) => `k${i % KEYS}`;
const value = (i: number) => `v${i}`.padEnd(16, '.');

async function measure(svc: KvService, ctx: Context, tag: string, run: number, figures: FigureSet): Promise<{ seq: number; rate: number; read: number }> {
  const n = ctx.sizes.kvPuts;
  const one = keepAliveAgent(1);
  const many = keepAliveAgent(256);
  try {
    await windowed(Math.min(2_000, n), 64, (i) => svc.put(many, key(i), value(i))); // warm-up, and every key exists
    const seqLat = await sequential(n, (i) => svc.put(one, key(i), value(i)));
    const elapsed = await windowed(n, 256, (i) => svc.put(many, key(i), value(i)));
    const readLat = await sequential(ctx.sizes.kvReads, (i) => svc.get(one, key(i)));
    const r = { seq: percentile(seqLat, 0.5), rate: n / (elapsed / 1000), read: percentile(readLat, 0.5) };
    figures.add(`E.${tag}.seqMedian`, `E ${svc.name}: sequential put, median`, 'ms', r.seq);
    figures.add(`E.${tag}.rate256`, `E ${svc.name}: puts/s, 256 in flight`, 'puts/s', r.rate);
    figures.add(`E.${tag}.readMedian`, `E ${svc.name}: sequential read, median`, 'ms', r.read);
    ctx.progress(`E run ${run}: ${svc.name}: sequential put median ${formatNumber(r.seq)} ms, ${formatNumber(r.rate)} puts/s with 256 in flight, read median ${formatNumber(r.read)} ms`);
    return r;
  } finally {
    one.destroy();
    many.destroy();
  }
}

export const scenarioE: Scenario = {
  name: 'E',
  title: 'the key-value example (actor-raft node, HTTP) against etcd (HTTP/JSON gateway), same client load',
  async run(ctx) {
    const figures = new FigureSet();
    if (!etcdInstalled()) {
      ctx.progress('E skipped: `etcd` is not installed (on Debian: apt-get install etcd-server), so there is nothing to compare with');
      return [];
    }
    buildCli();
    for (let run = 1; run <= ctx.runs; run++) {
      const kv = await startKvExample();
      let ours;
      try {
        ours = await measure(kv, ctx, 'kv', run, figures);
      } finally {
        await kv.stop();
      }
      const etcd = await startEtcd();
      let theirs;
      try {
        theirs = await measure(etcd, ctx, 'etcd', run, figures);
      } finally {
        await etcd.stop();
      }
      figures.add('E.ratio.rate256', 'E puts/s with 256 in flight, KV / etcd', 'x', ours.rate / theirs.rate);
      figures.add('E.ratio.seqMedian', 'E sequential put median, KV / etcd', 'x', ours.seq / theirs.seq);
      figures.add('E.ratio.readMedian', 'E sequential read median, KV / etcd', 'x', ours.read / theirs.read);
    }
    return figures.figures();
  },
};
