/**
 * The client loads every embedded scenario runs, the same for the Raft cluster and the floor:
 * proposals made in the leader's process through a `propose(data)` that resolves once the entry
 * is committed (and, for Raft, applied).
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

export type Propose = (data: Uint8Array) => Promise<unknown>;

export interface LoadRequest {
  /** 'sequential': one at a time, latencies kept; 'window': `inflight` outstanding at all times. */
  readonly mode: 'sequential' | 'window';
  readonly count: number;
  readonly size: number;
  readonly inflight?: number;
  /** Write a CPU profile of this process during the load to this file. */
  readonly profile?: string;
}

export interface LoadResult {
  readonly count: number;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** Propose-to-resolved latency of each proposal, in ms (sequential mode only). */
  readonly latencies?: number[];
  /** The leader's fsyncs during the load (Raft members only; the floor does not count them). */
  readonly leaderFsyncs?: number;
  /** The time those fsyncs took, in seconds. */
  readonly leaderFsyncSeconds?: number;
}

/** A payload of `size` bytes whose first bytes carry `i`, so entries differ. */
function payload(size: number, i: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let k = 0; k < Math.min(size, 4); k++) b[k] = (i >>> (8 * k)) & 0xff;
  return b;
}

export async function runLoad(propose: Propose, req: LoadRequest): Promise<LoadResult> {
  let session: Session | undefined;
  if (req.profile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const started = performance.now();
  let latencies: number[] | undefined;
  if (req.mode === 'sequential') {
    latencies = [];
    for (let i = 0; i < req.count; i++) {
      const t0 = performance.now();
      await propose(payload(req.size, i));
      latencies.push(performance.now() - t0);
    }
  } else {
    const inflight = Math.max(1, req.inflight ?? 1);
    let issued = 0;
    let failure: unknown;
    await new Promise<void>((resolve) => {
      let outstanding = 0;
      const next = (): void => {
        while (failure === undefined && outstanding < inflight && issued < req.count) {
          const i = issued++;
          outstanding++;
          propose(payload(req.size, i)).then(
            () => {
              outstanding--;
              next();
            },
            (err: unknown) => {
              outstanding--;
              failure ??= err;
              next();
            },
          );
        }
        if (outstanding === 0 && (issued === req.count || failure !== undefined)) resolve();
      };
      next();
    });
    if (failure !== undefined) throw failure;
  }
  const elapsedMs = performance.now() - started;
  if (session && req.profile) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(req.profile, JSON.stringify(profile));
    session.disconnect();
  }
  return { count: req.count, bytes: req.count * req.size, elapsedMs, ...(latencies ? { latencies } : {}) };
}

/** Resident set size after a full collection (the process runs with --expose-gc). */
export function settledMemory(): { rss: number; heapUsed: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}
