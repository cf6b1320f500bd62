/**
 * The parent's side of the benchmark's process protocol: a child process (a Raft member or a floor
 * member) that answers requests `{ id, cmd, ... }` with `{ id, ok, value | error }` over the IPC
 * channel and may also send events `{ event, ... }` of its own (a new leader committed, ready).
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface ChildEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export class BenchChild {
  readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: ChildEvent) => void>();
  private exitInfo: string | undefined;
  readonly exited: Promise<string>;
  stderr = '';

  constructor(script: string, args: readonly string[], opts: { execArgv?: readonly string[]; env?: NodeJS.ProcessEnv } = {}) {
    this.proc = fork(script, [...args], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.execArgv ?? [])],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: opts.env ?? process.env,
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc.on('message', (m: { id?: number; ok?: boolean; value?: unknown; error?: string; event?: string }) => {
      if (typeof m.event === 'string') {
        for (const l of this.listeners) l(m as ChildEvent);
        return;
      }
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(m.error ?? 'child request failed'));
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = signal ?? `code ${code}`;
        for (const w of this.waiting.values()) w.reject(new Error(`child exited (${this.exitInfo}) ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`));
        this.waiting.clear();
        resolve(this.exitInfo);
      });
    });
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  request<T>(cmd: string, body: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`child already exited (${this.exitInfo})`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`child did not answer "${cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, ...body });
    });
  }

  /** Resolves with the first event named `name` that `accept` takes. */
  waitEvent(name: string, timeoutMs: number, accept: (e: ChildEvent) => boolean = () => true): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(l);
        reject(new Error(`no "${name}" event within ${timeoutMs} ms`));
      }, timeoutMs);
      const l = (e: ChildEvent): void => {
        if (e.event !== name || !accept(e)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve(e);
      };
      this.listeners.add(l);
    });
  }

  onEvent(l: (e: ChildEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<string> {
    if (this.alive) this.proc.kill(signal);
    return this.exited;
  }

  /** Asks for a graceful stop; kills it when it does not exit within `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.alive) return;
    this.request('stop', {}, timeoutMs).catch(() => undefined);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** The child's side: serve requests with `handlers`; a handler's value or error is the answer. */
export function serveRequests(handlers: Record<string, (req: Record<string, unknown>) => unknown>): void {
  process.on('message', (m: { id: number; cmd: string } & Record<string, unknown>) => {
    const h = handlers[m.cmd];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        return h(m);
      })
      .then(
        (value) => process.send?.({ id: m.id, ok: true, value }),
        (err: unknown) => process.send?.({ id: m.id, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
      );
  });
  // The parent went away: nothing is left to measure for.
  process.on('disconnect', () => process.exit(0));
}

/** An event from the child to the parent. */
export function sendEvent(event: string, body: Record<string, unknown> = {}): void {
  process.send?.({ event, ...body });
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The wall clock in milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
