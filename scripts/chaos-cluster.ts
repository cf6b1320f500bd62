/**
 * The chaos runner's cluster: `actor-raft node` OS processes of the key-value example on
 * DiskStorage, each behind its MemberProxy (see chaos-proxy.ts), with the operations the nemesis
 * needs: SIGKILL and restart, SIGSTOP and SIGCONT, wiping a data directory, membership changes
 * through the HTTP admin routes, and a view of who leads.
 *
 * Addresses: member i listens for Raft on 127.0.0.1:<listen_i> (`--listen`), and every member,
 * itself included, names it in `--peers` by its proxy's address 127.0.0.1:<proxy_i>. A member added
 * later is added with its proxy address too, so no Raft byte bypasses the proxies.
 */
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FailableDisk } from './chaos-disk.ts';
import { LinkRules, MemberProxy } from './chaos-proxy.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
/**
 * Whether `actor-raft node` knows member identity (`--initial-cluster-state`): an empty data
 * directory then founds a cluster only with `new`, and a wiped member is refused under its old id.
 */
export const CLI_HAS_IDENTITY = readFileSync(fileURLToPath(new URL('../src/cli/args.ts', import.meta.url)), 'utf8').includes('initial-cluster-state');
const TSX = import.meta.resolve('tsx');

export type MemberState = 'up' | 'down' | 'paused' | 'removed';

export interface ChaosMember {
  readonly id: number;
  readonly listenPort: number;
  readonly httpPort: number;
  readonly proxy: MemberProxy;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  state: MemberState;
  /** Started with --join (added to a running cluster) rather than bootstrapped. */
  join: boolean;
  /** Process starts, for the log file names. */
  starts: number;
  /** The current process said it is ready (node started, HTTP listening). */
  ready: boolean;
  /** How the last process ended (`code 1`, `SIGKILL`), for the nemesis's notes. */
  lastExit: string | undefined;
  /** Settles when the last process started has exited (kill() returns before that). */
  exited: Promise<void>;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One HTTP request; rejects on a network error or when `timeoutMs` passes without an answer. */
export function http(method: string, url: string, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error('client timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const live = new Set<ChildProcess>();
const liveDisks = new Set<FailableDisk>();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of liveDisks) d.destroy();
});

export interface StatusView {
  readonly id: number;
  readonly term: number;
  readonly lead: number;
  readonly raftState: string;
  readonly applied: number;
}

export class ChaosCluster {
  readonly members: ChaosMember[] = [];
  readonly rules = new LinkRules();
  private secret = randomBytes(32).toString('hex');
  /**
   * Each member's data directory on a disk of its own that can be filled or made to fail
   * (chaos-disk.ts; root only). Undefined when the run does not use them or they cannot be made.
   */
  disks: Map<number, FailableDisk> | undefined;
  /** Why `disks` could not be made, when they were asked for. */
  disksProblem: string | undefined;

  private constructor(
    readonly root: string,
    private readonly tickMs: number,
  ) {}

  static async create(root: string, size: number, tickMs: number, opts: { disks?: boolean } = {}): Promise<ChaosCluster> {
    const c = new ChaosCluster(root, tickMs);
    if (opts.disks) {
      const disks = new Map<number, FailableDisk>();
      for (let id = 1; id <= size && !c.disksProblem; id++) {
        const d = new FailableDisk(join(root, `disk-${id}`));
        c.disksProblem = d.create();
        if (!c.disksProblem) {
          disks.set(id, d);
          liveDisks.add(d);
        }
      }
      if (c.disksProblem) for (const d of disks.values()) c.releaseDisk(d);
      else c.disks = disks;
    }
    for (let id = 1; id <= size; id++) await c.addMemberRecord(id, c.disks?.get(id)?.dataDir);
    return c;
  }

  private releaseDisk(d: FailableDisk): void {
    d.destroy();
    liveDisks.delete(d);
  }

  private async addMemberRecord(id: number, dataDir = join(this.root, `data-${id}`)): Promise<ChaosMember> {
    const listenPort = await freePort();
    const httpPort = await freePort();
    const proxy = new MemberProxy(id, { host: '127.0.0.1', port: listenPort }, this.rules);
    await proxy.start();
    const m: ChaosMember = { id, listenPort, httpPort, proxy, dataDir, child: undefined, state: 'down', join: false, starts: 0, ready: false, lastExit: undefined, exited: Promise.resolve() };
    this.members.push(m);
    return m;
  }

  member(id: number): ChaosMember {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  raftAddress(m: ChaosMember): string {
    return `127.0.0.1:${m.proxy.port}`;
  }

  httpAddress(m: ChaosMember): string {
    return `127.0.0.1:${m.httpPort}`;
  }

  /** Members that are part of the cluster (not removed). */
  get current(): ChaosMember[] {
    return this.members.filter((m) => m.state !== 'removed');
  }

  /** Starts the member's process on its data directory. */
  start(m: ChaosMember): void {
    mkdirSync(m.dataDir, { recursive: true });
    const all = this.members;
    const args = [
      '--import', TSX, MAIN, 'node',
      '--id', String(m.id),
      '--peers', all.map((x) => `${x.id}=${this.raftAddress(x)}`).join(','),
      '--listen', `127.0.0.1:${m.listenPort}`,
      '--http', this.httpAddress(m),
      '--http-peers', all.map((x) => `${x.id}=${this.httpAddress(x)}`).join(','),
      '--data', m.dataDir,
      '--cluster-id', 'chaos',
      '--tick', String(this.tickMs),
      '--request-timeout', '2000',
      '--log-level', 'info',
      ...(m.join ? ['--join'] : []),
      // The founding members' first start founds the cluster; every later start must find data.
      ...(CLI_HAS_IDENTITY && !m.join && m.starts === 0 ? ['--initial-cluster-state', 'new'] : []),
    ];
    m.starts++;
    const log = createWriteStream(join(this.root, `node-${m.id}.log`), { flags: 'a' });
    log.write(`\n=== start ${m.starts} at ${new Date().toISOString()}${m.join ? ' (--join)' : ''}\n`);
    const child = spawn(process.execPath, args, { env: { ...process.env, ACTOR_RAFT_SECRET: this.secret, FORCE_COLOR: undefined, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    live.add(child);
    child.on('exit', (code, signal) => {
      live.delete(child);
      log.write(`=== exit ${signal ?? `code ${code}`}\n`);
      if (m.child === child) {
        m.lastExit = signal ?? `code ${code}`;
        m.child = undefined;
        if (m.state === 'up' || m.state === 'paused') m.state = 'down';
      }
    });
    child.on('message', (msg: { type?: string }) => {
      if (msg?.type === 'ready' && m.child === child) m.ready = true;
    });
    m.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    m.child = child;
    m.ready = false;
    m.state = 'up';
  }

  /** Waits until the member's process is ready; false after `timeoutMs` or when it exited. */
  async waitReady(m: ChaosMember, timeoutMs = 60_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (m.ready) return true;
      if (!m.child) return false;
      await sleep(100);
    }
    return false;
  }

  /** SIGKILL: the process dies at once; what it did not sync is lost. */
  kill(m: ChaosMember): void {
    const c = m.child;
    if (!c) return;
    m.child = undefined;
    if (m.state !== 'removed') m.state = 'down';
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    m.proxy.dropAll();
  }

  pause(m: ChaosMember): void {
    if (!m.child || m.state !== 'up') return;
    m.child.kill('SIGSTOP');
    m.state = 'paused';
  }

  resume(m: ChaosMember): void {
    if (!m.child || m.state !== 'paused') return;
    m.child.kill('SIGCONT');
    m.state = 'up';
  }

  /** Deletes the member's data directory (the process must be down). */
  wipe(m: ChaosMember): void {
    rmSync(m.dataDir, { recursive: true, force: true });
  }

  /** The member's own disk (needs `disks`). */
  disk(m: ChaosMember): FailableDisk {
    const d = this.disks?.get(m.id);
    if (!d) throw new Error(`member ${m.id} has no disk of its own`);
    return d;
  }

  /** Whether the member's last process exited within `timeoutMs` (after kill() or a crash). */
  waitExited(m: ChaosMember, timeoutMs = 10_000): Promise<boolean> {
    return Promise.race([m.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  }

  /** Applies the link rules to open connections. */
  enforceLinks(): void {
    for (const m of this.members) m.proxy.enforce();
  }

  async status(m: ChaosMember, timeoutMs = 800): Promise<StatusView | undefined> {
    if (!m.child || m.state !== 'up') return undefined;
    try {
      const a = await http('GET', `http://${this.httpAddress(m)}/status`, undefined, timeoutMs);
      return a.status === 200 ? (JSON.parse(a.body) as StatusView) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The leader with the highest term among the members that answer, if any. */
  async leader(): Promise<ChaosMember | undefined> {
    const statuses = await Promise.all(this.current.map((m) => this.status(m)));
    let best: StatusView | undefined;
    for (const s of statuses) if (s && s.raftState === 'leader' && (!best || s.term > best.term)) best = s;
    return best ? this.member(best.id) : undefined;
  }

  /** `{applied, count, digest}` of a member's map, read locally (no barrier). */
  async digest(m: ChaosMember): Promise<{ applied: number; count: number; digest: string } | undefined> {
    if (!m.child || m.state !== 'up') return undefined;
    try {
      const a = await http('GET', `http://${this.httpAddress(m)}/kv?digest=true&stale=true`, undefined, 2000);
      return a.status === 200 ? JSON.parse(a.body) : undefined;
    } catch {
      return undefined;
    }
  }

  /** An admin request to any member that answers (followers relay to the leader). */
  async admin(method: string, path: string, body?: unknown): Promise<HttpAnswer | undefined> {
    for (const m of this.current.filter((x) => x.state === 'up')) {
      try {
        const a = await http(method, `http://${this.httpAddress(m)}${path}`, body === undefined ? undefined : JSON.stringify(body), 5000);
        if (a.status !== 503 && a.status !== 421) return a;
      } catch {
        // try the next member
      }
    }
    return undefined;
  }

  /** Kills every process, closes the proxies and unmounts the disks. */
  async stop(): Promise<void> {
    for (const m of this.members) this.kill(m);
    await Promise.all(this.members.map((m) => m.proxy.stop()));
    await Promise.all(this.members.map((m) => this.waitExited(m, 5000)));
    for (const d of this.disks?.values() ?? []) this.releaseDisk(d);
  }
}
