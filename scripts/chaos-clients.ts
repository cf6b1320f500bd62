/**
 * The chaos runner's clients: concurrent loops of put, compare-and-swap and linearizable get over
 * the key-value example's HTTP API, each sent to a random member, recorded as a history for the
 * linearizability checker. Plus write-once keys (`u/<client>-<n>`, never overwritten) whose
 * acknowledged writes must all be there at the end.
 *
 * What an answer means (docs/kv-example.md, src/kv/http-errors.ts):
 *   200 / 404 / 412              the operation happened, with this result
 *   an answer with retry-after   proven not applied (421, 503, 409): left out of the history
 *   400, 413                     a bad request: never applied (none are expected)
 *   connection refused           never reached a member: not applied
 *   504, 500, no answer          the write may or may not have happened: unknown outcome
 * A read that does not get 200 or 404 is left out (a read that did not answer changes nothing).
 */
import { performance } from 'node:perf_hooks';
import type { Operation } from '../src/sim/linearizability.ts';
import type { KvInput, KvOutput } from '../src/sim/linearizability-models.ts';
import { Rng } from '../src/raft/rng.ts';
import { type ChaosCluster, http, sleep } from './chaos-cluster.ts';

/** The connection was refused: the request never reached a server, so it was not applied. */
function refused(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED';
}

export interface OutcomeCounts {
  ok: number;
  failed: number;
  unknown: number;
}

export class ChaosClients {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  readonly counts: Record<'put' | 'cas' | 'get' | 'unique', OutcomeCounts> = {
    put: { ok: 0, failed: 0, unknown: 0 },
    cas: { ok: 0, failed: 0, unknown: 0 },
    get: { ok: 0, failed: 0, unknown: 0 },
    unique: { ok: 0, failed: 0, unknown: 0 },
  };
  /** Writes answered "not applied" (retry-after, 400, 413, refused): kept to explain a violation. */
  readonly notApplied: { client: number; call: number; return: number; input: KvInput; answer: string; target: string }[] = [];
  /** Write-once keys whose put was acknowledged (value = key). */
  readonly acknowledgedUnique: string[] = [];
  /** Return times of successful operations, for the longest unavailability. */
  readonly successes: number[] = [];
  /** Answers by HTTP status (or 'error'), for the report. */
  readonly statuses = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];
  readonly t0 = performance.now();

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly seed: number,
    private readonly keysPerGeneration = 3,
    /** Clients move to fresh keys this often (ms), so each key's history stays small to check. */
    private readonly rotateMs = 5000,
    private readonly timeoutMs = 4000,
  ) {}

  /** The keys in use now: a new generation every `rotateMs`. */
  currentKeys(): string[] {
    const g = Math.floor(this.now() / this.rotateMs);
    return Array.from({ length: this.keysPerGeneration }, (_, i) => `g${g}-k${i}`);
  }

  /** Every key any operation touched. */
  usedKeys(): string[] {
    return [...new Set(this.history.map((o) => o.input.key))];
  }

  now(): number {
    return performance.now() - this.t0;
  }

  start(clients: number): void {
    this.running = true;
    for (let c = 1; c <= clients; c++) this.loops.push(this.loop(c, new Rng(this.seed * 7919 + c)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private targets(): string[] {
    // Clients know the members, not which are paused: a paused member simply does not answer.
    return this.cluster.current.filter((m) => m.child !== undefined).map((m) => this.cluster.httpAddress(m));
  }

  private async loop(client: number, rng: Rng): Promise<void> {
    const lastSeen = new Map<string, string | null>();
    let n = 0;
    while (this.running) {
      const targets = this.targets();
      if (targets.length === 0) {
        await sleep(100);
        continue;
      }
      const target = rng.pick(targets);
      const key = rng.pick(this.currentKeys());
      const value = `c${client}-${++n}`;
      const r = rng.next();
      let again: boolean;
      if (r < 0.35) again = await this.get(client, target, key, lastSeen);
      else if (r < 0.65) again = await this.write(client, target, { op: 'put', key, value }, lastSeen);
      else if (r < 0.85) again = await this.write(client, target, { op: 'cas', key, prev: lastSeen.get(key) ?? null, value }, lastSeen);
      else again = await this.unique(target, `u/${client}-${n}`);
      if (!again) await sleep(rng.int(20, 200));
    }
  }

  private count(status: string): void {
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  /** A linearizable read. Returns whether it got an answer. */
  async get(client: number, target: string, key: string, lastSeen?: Map<string, string | null>): Promise<boolean> {
    const call = Math.floor(this.now()); // whole ms, rounded outwards: intervals only widen
    try {
      const a = await http('GET', `http://${target}/kv/${encodeURIComponent(key)}`, undefined, this.timeoutMs);
      const ret = Math.ceil(this.now());
      this.count(String(a.status));
      if (a.status === 200 || a.status === 404) {
        const value = a.status === 200 ? a.body : null;
        this.history.push({ client, call, return: ret, input: { op: 'get', key }, output: { value } });
        this.counts.get.ok++;
        this.successes.push(ret);
        lastSeen?.set(key, value);
        return true;
      }
      this.counts.get.failed++;
      return false;
    } catch (err) {
      this.count(refused(err) ? 'refused' : 'error');
      if (refused(err)) this.counts.get.failed++;
      else this.counts.get.unknown++;
      return false;
    }
  }

  private async write(client: number, target: string, input: KvInput & { op: 'put' | 'cas' }, lastSeen: Map<string, string | null>): Promise<boolean> {
    const call = Math.floor(this.now()); // whole ms, rounded outwards: intervals only widen
    const query = input.op === 'cas' ? (input.prev === null ? '?prevExist=false' : `?prevValue=${encodeURIComponent(input.prev)}`) : '';
    const counts = this.counts[input.op];
    try {
      const a = await http('PUT', `http://${target}/kv/${encodeURIComponent(input.key)}${query}`, input.value, this.timeoutMs);
      const ret = Math.ceil(this.now());
      this.count(String(a.status));
      if (a.status === 200) {
        this.history.push({ client, call, return: ret, input, output: input.op === 'cas' ? { ok: true } : {} });
        counts.ok++;
        this.successes.push(ret);
        lastSeen.set(input.key, input.value);
        return true;
      }
      if (a.status === 412 && input.op === 'cas') {
        this.history.push({ client, call, return: ret, input, output: { ok: false } });
        counts.ok++;
        this.successes.push(ret);
        try {
          lastSeen.set(input.key, (JSON.parse(a.body) as { current: string | null }).current);
        } catch {
          lastSeen.delete(input.key);
        }
        return true;
      }
      if (a.headers['retry-after'] !== undefined || a.status === 400 || a.status === 413) {
        counts.failed++;
        this.notApplied.push({ client, call, return: ret, input, answer: `${a.status} ${a.body.trim().slice(0, 120)}`, target });
        return false;
      }
      this.unknownWrite(client, call, input);
      return false;
    } catch (err) {
      this.count(refused(err) ? 'refused' : 'error');
      if (refused(err)) {
        counts.failed++;
        this.notApplied.push({ client, call, return: this.now(), input, answer: 'connection refused', target });
      } else this.unknownWrite(client, call, input);
      return false;
    }
  }

  private unknownWrite(client: number, call: number, input: KvInput & { op: 'put' | 'cas' }): void {
    this.history.push({ client, call, input });
    this.counts[input.op].unknown++;
  }

  private async unique(target: string, key: string): Promise<boolean> {
    try {
      const a = await http('PUT', `http://${target}/kv/${encodeURIComponent(key)}`, key, this.timeoutMs);
      this.count(String(a.status));
      if (a.status === 200) {
        this.acknowledgedUnique.push(key);
        this.counts.unique.ok++;
        this.successes.push(this.now());
        return true;
      }
      if (a.headers['retry-after'] !== undefined) this.counts.unique.failed++;
      else this.counts.unique.unknown++;
      return false;
    } catch (err) {
      this.count(refused(err) ? 'refused' : 'error');
      if (refused(err)) this.counts.unique.failed++;
      else this.counts.unique.unknown++;
      return false;
    }
  }

  /** The longest stretch (ms) without any successful operation, and when it started. */
  longestUnavailability(end: number): { ms: number; from: number } {
    const times = [0, ...this.successes.slice().sort((a, b) => a - b), end];
    let best = { ms: 0, from: 0 };
    for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! > best.ms) best = { ms: times[i]! - times[i - 1]!, from: times[i - 1]! };
    return best;
  }
}
