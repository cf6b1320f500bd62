/**
 * The live dashboard's HTTP routes, served by every member next to its key-value API:
 *
 *   GET     /dashboard                 the page (plain HTML, JavaScript and SVG; no build, no CDN)
 *   GET     /dashboard/dashboard.js    its script and stylesheet, read from src/dashboard/assets/
 *   GET     /dashboard/cluster         every member's HTTP address, the controls this member offers,
 *                                      and the role statechart as data (drawn from its definition)
 *   GET     /dashboard/events          Server-Sent Events: this member's role changes (with their
 *                                      cause) and views (role, term, log, replicators, breakers...)
 *   POST    /dashboard/control         {"action": ...}: burst, transfer, remove on the leader; kill,
 *                                      restart, add, partition, heal through the runner
 *   OPTIONS /dashboard/...             CORS preflight
 *
 * The page opens one event stream per member, straight to that member, so it keeps working when
 * the member that served it dies. Those streams are cross-origin: the routes answer CORS only for
 * the cluster's own HTTP origins. The page and its assets hold no data and are served without the
 * bearer token; everything else goes through the server's token check like any other route.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RaftNode } from '../actors/raft-node.ts';
import { roleMachine } from '../machines/role.machine.ts';
import { machineGraph } from './machine-graph.ts';
import type { MemberFeed } from './member-feed.ts';

/** What the runner (`actor-raft cluster`) can do for the dashboard; see src/cli/main.ts. */
export type RunnerRequest =
  | { readonly action: 'kill' | 'restart' | 'partition' | 'launch' | 'retire'; readonly id: number }
  | { readonly action: 'heal' | 'allocate' };

export interface RunnerAnswer {
  readonly ok: boolean;
  readonly message: string;
  /** `allocate`: the new member's id and addresses. */
  readonly member?: { readonly id: number; readonly raft: string; readonly http: string };
}

export interface DashboardOptions {
  readonly node: RaftNode<unknown>;
  readonly feed: MemberFeed;
  /** Every member's HTTP address (`host:port`), self included; read on each request (members come and go). */
  readonly httpPeers: () => ReadonlyMap<number, string>;
  readonly scheme: 'http' | 'https';
  /** One write of a burst (the i-th); without it the page offers no burst. */
  readonly write?: ((i: number, signal: AbortSignal) => Promise<unknown>) | undefined;
  /** The runner's controls, when this member runs under `actor-raft cluster` (src/cli/runner-link.ts). */
  readonly runner?: { readonly available: boolean; request(req: RunnerRequest): Promise<RunnerAnswer> } | undefined;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** src/dashboard/assets/ from src/dashboard/ (tsx) and from dist/dashboard/ (the package ships src). */
const ASSET_DIR = new URL('../../src/dashboard/assets/', import.meta.url);

/** The most writes one burst may ask for. */
export const MAX_BURST = 10_000;

class DashboardError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class DashboardRoutes {
  private readonly assets = new Map<string, Buffer>();
  private readonly graph = machineGraph(roleMachine);

  constructor(private readonly opts: DashboardOptions) {}

  /** True for the dashboard's paths. */
  matches(path: string): boolean {
    return path === '/dashboard' || path.startsWith('/dashboard/');
  }

  /** The page, its assets and CORS preflights: served without the bearer token (they hold no data). */
  isPublic(req: IncomingMessage): boolean {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'OPTIONS') return this.matches(path);
    return (req.method === 'GET' || req.method === 'HEAD') && path in ASSETS;
  }

  /** Answers a dashboard request; never throws (errors become JSON answers). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (err) {
      const e = err instanceof DashboardError ? err : new DashboardError(500, err instanceof Error ? err.message : String(err));
      if (res.headersSent) return void res.destroy();
      this.json(req, res, e.status, { error: e.message, ...e.extra });
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') return this.preflight(req, res);
    const asset = ASSETS[path];
    if (asset) {
      if (method !== 'GET' && method !== 'HEAD') throw new DashboardError(405, 'method not allowed; allowed: GET');
      const body = this.asset(asset.file);
      res.writeHead(200, { 'content-type': asset.type, 'content-length': body.byteLength, 'cache-control': 'no-cache' });
      return void res.end(method === 'HEAD' ? undefined : body);
    }
    switch (path) {
      case '/dashboard/cluster':
        if (method !== 'GET') throw new DashboardError(405, 'method not allowed; allowed: GET');
        return this.json(req, res, 200, this.cluster());
      case '/dashboard/events':
        if (method !== 'GET') throw new DashboardError(405, 'method not allowed; allowed: GET');
        return this.events(req, res);
      case '/dashboard/control':
        if (method !== 'POST') throw new DashboardError(405, 'method not allowed; allowed: POST');
        // JSON only: a foreign page cannot send it without a CORS preflight, which it fails.
        if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new DashboardError(415, 'send the control as Content-Type: application/json');
        return this.json(req, res, 200, await this.control(await readJson(req)));
      default:
        throw new DashboardError(404, `no dashboard route ${path}; open /dashboard`);
    }
  }

  private asset(file: string): Buffer {
    let body = this.assets.get(file);
    if (!body) {
      body = readFileSync(new URL(file, ASSET_DIR));
      this.assets.set(file, body);
    }
    return body;
  }

  private cluster(): Record<string, unknown> {
    const { node } = this.opts;
    const http = this.opts.httpPeers();
    let members: { id: number; role: string }[] = [];
    try {
      members = node.members().map((m) => ({ id: m.id, role: m.role }));
    } catch {
      // stopped: the HTTP addresses alone
    }
    const ids = new Set([...http.keys(), ...members.map((m) => m.id)]);
    const controls = ['burst', 'transfer', 'remove'].filter((c) => c !== 'burst' || this.opts.write);
    if (this.opts.runner?.available) controls.push('kill', 'restart', 'add', 'partition', 'heal');
    return {
      self: node.id,
      scheme: this.opts.scheme,
      members: [...ids].sort((a, b) => a - b).map((id) => ({ id, http: http.get(id) ?? null, role: members.find((m) => m.id === id)?.role ?? null })),
      controls,
      machine: this.graph,
    };
  }

  /** Server-Sent Events: `history` once, then `view` and `role` events as the member's streams emit. */
  private events(req: IncomingMessage, res: ServerResponse): void {
    const { feed } = this.opts;
    res.writeHead(200, { ...this.cors(req), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    send('history', feed.recent());
    const now = feed.view();
    if (now) send('view', now);
    const sub = feed.updates().subscribe((m) => (m.type === 'view' ? send('view', m.view) : send('role', m.change)));
    // A comment now and then keeps proxies and the browser from timing the stream out.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const close = () => {
      clearInterval(keepAlive);
      sub.unsubscribe();
    };
    req.on('close', close);
    res.on('error', close);
  }

  private async control(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { node } = this.opts;
    const link = this.opts.runner?.available ? this.opts.runner : undefined;
    const runner = link && ((req: RunnerRequest) => link.request(req));
    const action = body.action;
    const id = body.id === undefined ? undefined : memberId(body.id, 'id');
    const needRunner = () => {
      if (!runner) throw new DashboardError(501, `"${String(action)}" needs the member to run under "actor-raft cluster" (npm start)`);
      return runner;
    };
    const needId = () => {
      if (id === undefined) throw new DashboardError(400, `"${String(action)}" needs "id": the member`);
      return id;
    };
    switch (action) {
      case 'kill':
      case 'restart':
      case 'partition':
        return this.runnerAnswer(await needRunner()({ action, id: needId() }));
      case 'heal':
        return this.runnerAnswer(await needRunner()({ action }));
      case 'burst':
        return this.burst(body.count);
      case 'transfer':
        return this.transfer(body.to === undefined ? undefined : memberId(body.to, 'to'));
      case 'remove': {
        const target = needId();
        this.requireLeader();
        const out = await node.removeNode(target, { signal: AbortSignal.timeout(10_000) });
        if (runner && target !== node.id) await runner({ action: 'retire', id: target });
        return { ok: true, message: `removed member ${target} at index ${out.index}` };
      }
      case 'add': {
        const run = needRunner();
        this.requireLeader();
        const slot = await run({ action: 'allocate' });
        if (!slot.ok || !slot.member) return this.runnerAnswer(slot);
        const out = await node.addNode(slot.member.id, slot.member.raft, { signal: AbortSignal.timeout(10_000) });
        await run({ action: 'launch', id: slot.member.id });
        return { ok: true, message: `added member ${slot.member.id} (raft ${slot.member.raft}, http ${slot.member.http}) at index ${out.index}; it joins and catches up` };
      }
      default:
        throw new DashboardError(400, `unknown action ${JSON.stringify(action)}; expected burst, transfer, remove, add, kill, restart, partition or heal`);
    }
  }

  private runnerAnswer(a: RunnerAnswer): Record<string, unknown> {
    if (!a.ok) throw new DashboardError(409, a.message);
    return { ok: true, message: a.message };
  }

  private requireLeader(): void {
    const { node } = this.opts;
    if (node.isLeader()) return;
    const leader = node.leader();
    const http = leader ? this.opts.httpPeers().get(leader) : undefined;
    throw new DashboardError(421, leader ? `member ${node.id} is not the leader; ask member ${leader}` : 'no leader is known right now; retry shortly', { leader: leader || null, leaderHttp: http ?? null });
  }

  /** `count` writes at once, through this member (followers forward them to the leader). */
  private async burst(raw: unknown): Promise<Record<string, unknown>> {
    const write = this.opts.write;
    if (!write) throw new DashboardError(501, 'this server offers no burst of writes');
    const count = raw === undefined ? 200 : raw;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > MAX_BURST) {
      throw new DashboardError(400, `"count" must be a whole number from 1 to ${MAX_BURST}`);
    }
    const started = performance.now();
    const signal = AbortSignal.timeout(15_000);
    setMaxListeners(count + 10, signal); // one listener per write is expected here, not a leak
    const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => write(i, signal)));
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    const ms = Math.round(performance.now() - started);
    const why = failed.length > 0 ? `; ${failed.length} failed (${String((failed[0]!.reason as Error)?.message ?? failed[0]!.reason)})` : '';
    return { ok: failed.length === 0, message: `${count - failed.length} of ${count} writes committed in ${ms} ms${why}`, committed: count - failed.length, failed: failed.length, ms };
  }

  /** Hands leadership to `to` (default: the follower with the longest log). Only on the leader. */
  private async transfer(to: number | undefined): Promise<Record<string, unknown>> {
    const { node } = this.opts;
    this.requireLeader();
    const target = to ?? bestFollower(node);
    if (target === undefined) throw new DashboardError(409, 'no follower to hand leadership to');
    await node.transferLeadership(target, { signal: AbortSignal.timeout(10_000) });
    return { ok: true, message: `leadership handed from member ${node.id} to member ${target}` };
  }

  // ----- CORS: only the cluster's own HTTP origins may read a member's stream or send controls -----

  private allowedOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (typeof origin !== 'string') return undefined;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return undefined;
    }
    if (url.protocol !== `${this.opts.scheme}:`) return undefined;
    for (const address of this.opts.httpPeers().values()) {
      const i = address.lastIndexOf(':');
      const host = address.slice(0, i).replace(/^\[|\]$/g, '').toLowerCase();
      const port = address.slice(i + 1);
      const h = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (url.port === port && (h === host || (isLoopback(h) && isLoopback(host)))) return origin;
    }
    return undefined;
  }

  private cors(req: IncomingMessage): Record<string, string> {
    const origin = this.allowedOrigin(req);
    return origin ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    const headers = this.cors(req);
    if (!headers['access-control-allow-origin']) throw new DashboardError(403, 'this origin is not a member of the cluster');
    res.writeHead(204, { ...headers, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'authorization, content-type', 'access-control-max-age': '600' });
    res.end();
  }

  private json(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { ...this.cors(req), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function memberId(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new DashboardError(400, `"${field}" must be a member id (a positive whole number)`);
  return v;
}

/** The follower whose log matches the leader's furthest: the quickest to take over. */
function bestFollower(node: RaftNode<unknown>): number | undefined {
  const s = node.status();
  let best: { id: number; match: number } | undefined;
  for (const [id, p] of Object.entries(s.progress)) {
    if (Number(id) === s.id) continue;
    if (!best || p.match > best.match) best = { id: Number(id), match: p.match };
  }
  return best?.id;
}

/** A small JSON object body (controls are a few fields). */
function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > 4096) {
        req.destroy();
        reject(new DashboardError(413, 'a control body is at most 4 KiB'));
      }
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(text || '{}') as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new DashboardError(400, 'the body must be a JSON object like {"action": "kill", "id": 2}'));
      }
    });
    req.on('error', reject);
  });
}
