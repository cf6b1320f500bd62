/**
 * The HTTP API of one member of the replicated key-value example (node:http, no framework).
 *
 *   PUT    /kv/:key[?prevValue=v | ?prevExist=false]   body = value; CAS with prevValue / create-only
 *   GET    /kv/:key[?stale=true]                        linearizable (ReadIndex) unless stale=true
 *   DELETE /kv/:key[?prevValue=v]
 *   GET    /kv[?prefix=p][&stale=true]                  keys, count, digest and applied index
 *   GET    /status                                      node.status() plus addresses and kv digest
 *   GET    /members[?stale=true]                        voters and learners (from the leader unless stale)
 *   POST   /members  {"id","address","learner"}         add a member (learner: true for a learner)
 *   DELETE /members/:id                                 remove a member
 *   POST   /members/:id/promote                         make a learner a voter
 *   POST   /members/:id/transfer-leadership             hand leadership to voter :id (transfer-leadership.ts)
 *   GET    /metrics                                     the member's figures in the Prometheus text format
 *   GET    /dashboard                                   the live dashboard (src/dashboard/), when given one
 *   GET    /health                                      200 when ready to serve (a leader is known and
 *                                                       this node applied what was committed when it
 *                                                       started), 503 otherwise: for load balancers
 *
 * Every error is JSON `{ error, ... }`. When a request needs the leader and this node cannot serve
 * it, the answer names the leader: `{ error, leader, leaderAddress, leaderHttp }`, with 421 when
 * a leader is known (and a `Location` header with the same path on the leader's HTTP address) or
 * 503 when none is. Membership changes on a follower are relayed to the leader's HTTP address
 * (over HTTPS, verifying the leader's certificate, when this server serves HTTPS).
 * Statuses come from one table (`http-errors.ts`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RaftNode } from '../actors/raft-node.ts';
import { isValidAddress } from '../config.ts';
import { ConfChangeInProgressError, NotLeaderError, ProposalDroppedError, ProposalOutcomeUnknownError, StoppedError } from '../errors.ts';
import { PROMETHEUS_CONTENT_TYPE, formatPrometheus } from '../metrics/prometheus-text.ts';
import type { DashboardRoutes } from '../dashboard/dashboard-routes.ts';
import { causeChain, httpAnswer } from './http-errors.ts';
import { transferLeadership } from './transfer-leadership.ts';
import { RequestDeadlines } from './request-deadlines.ts';
import { type KvCommand, type KvResult, KvStateMachine, MAX_KEY_BYTES, encodeCommand, validateCommand } from './kv-state-machine.ts';

/** 18 bytes of proposal envelope plus msgpack framing of the command. */
const PROPOSAL_OVERHEAD = 64;

/** The documented body cap: 1 MiB exactly. */
export const KV_MAX_BODY_BYTES = 1024 * 1024;

/**
 * The `maxSizePerMsg` a node needs so that a 1 MiB value with the longest key still fits in one
 * proposal (the CLI configures its nodes with it). With a smaller one the body cap shrinks to fit.
 */
export const KV_MAX_SIZE_PER_MSG = KV_MAX_BODY_BYTES + MAX_KEY_BYTES + PROPOSAL_OVERHEAD;

export interface KvHttpServerOptions {
  readonly node: RaftNode<KvResult>;
  readonly kv: KvStateMachine;
  /** HTTP address (`host:port`) of every member, self included, to point clients at the leader. */
  readonly httpPeers?: ReadonlyMap<number, string>;
  /** Largest request body in bytes. Default 1 MiB (also bounded by the node's maxSizePerMsg). */
  readonly maxBodyBytes?: number;
  /** How long a write or a linearizable read may wait for the cluster. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
  /** When set, every request must carry `Authorization: Bearer <token>`; others get 401. */
  readonly token?: string;
  /**
   * Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. Membership requests
   * relayed to the leader then go over HTTPS too, and the leader's certificate must be signed by
   * `ca` (PEM). Without `ca` the server's own certificate is the only trusted one: that fits a
   * cluster sharing one self-signed certificate; members with their own certificates need `ca`.
   */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer };
  /** The live dashboard's routes under /dashboard (docs/observability.md). */
  readonly dashboard?: DashboardRoutes | undefined;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class KvHttpServer {
  readonly server: Server;
  private readonly node: RaftNode<KvResult>;
  private readonly kv: KvStateMachine;
  private readonly httpPeers: ReadonlyMap<number, string>;
  private readonly maxBodyBytes: number;
  private readonly timeoutMs: number;
  /** One sweep timer for every request's deadline, instead of a timer per request. */
  private readonly deadlines: RequestDeadlines;
  /** The commit index known when the server started listening (normally right after node.start()). */
  private startCommit = 0;
  /** What /health waits for this node to apply; fixed the first time a leader is known. */
  private catchUpTarget: number | undefined;
  /** SHA-256 of the token: compared in constant time with the hash of what a request presents. */
  private readonly tokenHash: Buffer | undefined;
  readonly scheme: 'http' | 'https';
  /** The certificate authority the leader's certificate must chain to when relaying over HTTPS. */
  private readonly relayCa: string | Buffer | undefined;

  constructor(opts: KvHttpServerOptions) {
    this.node = opts.node;
    this.kv = opts.kv;
    this.httpPeers = opts.httpPeers ?? new Map();
    const proposalRoom = this.node.config.maxSizePerMsg - PROPOSAL_OVERHEAD - MAX_KEY_BYTES;
    this.maxBodyBytes = Math.min(opts.maxBodyBytes ?? KV_MAX_BODY_BYTES, proposalRoom);
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
    this.deadlines = new RequestDeadlines(this.timeoutMs);
    if (opts.token !== undefined && opts.token.length === 0) throw new TypeError('the HTTP token must not be empty');
    this.tokenHash = opts.token === undefined ? undefined : sha256(opts.token);
    const dashboard = opts.dashboard;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      if (dashboard?.isPublic(req)) return void dashboard.handle(req, res);
      if (!this.authorized(req)) {
        this.fail(res, req, new HttpError(401, 'missing or wrong bearer token: send "Authorization: Bearer <token>"', {}, { 'www-authenticate': 'Bearer realm="actor-raft"' }));
        return;
      }
      if (dashboard?.matches(new URL(req.url ?? '/', 'http://localhost').pathname)) return void dashboard.handle(req, res);
      this.handle(req, res).catch((err: unknown) => this.fail(res, req, err));
    };
    this.scheme = opts.tls ? 'https' : 'http';
    this.relayCa = opts.tls ? (opts.tls.ca ?? opts.tls.cert) : undefined;
    this.server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : createServer(onRequest);
    this.server.keepAliveTimeout = 5000;
  }

  /** Listens on `host:port` (port 0: any free port). Resolves with the bound address. */
  listen(address: string): Promise<string> {
    try {
      this.startCommit = this.node.status().commit;
    } catch {
      // not started yet: /health then waits for what the leader reports first
    }
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.address());
      });
    });
  }

  /** The bound `host:port`. */
  address(): string {
    const a = this.server.address() as AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** Stops accepting connections and closes idle ones; in-flight requests finish. */
  close(): Promise<void> {
    this.deadlines.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** No token configured, or the request presents it as a bearer token. */
  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenHash) return true;
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    return !!m && timingSafeEqual(sha256(m[1]!), this.tokenHash);
  }

  // ----- routing -----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/status') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw this.methodNotAllowed('GET');
      return this.status(res);
    }
    if (path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw this.methodNotAllowed('GET');
      return this.metrics(req, res);
    }
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw this.methodNotAllowed('GET');
      return this.health(res);
    }
    if (path === '/kv' || path === '/kv/') {
      if (req.method === 'GET' || req.method === 'HEAD') return this.list(res, url);
      if (path === '/kv/') throw new HttpError(400, 'missing key: use /kv/<key>');
      throw this.methodNotAllowed('GET');
    }
    if (path.startsWith('/kv/')) {
      let key: string;
      try {
        key = decodeURIComponent(path.slice(4));
      } catch {
        throw new HttpError(400, 'the key is not valid percent-encoding');
      }
      const keyProblem = validateCommand({ op: 'delete', key });
      if (keyProblem) throw new HttpError(400, `bad key: ${keyProblem}`);
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return this.get(res, key, url);
        case 'PUT':
        case 'POST':
          return this.put(req, res, key, url);
        case 'DELETE':
          return this.delete(res, key, url);
        default:
          throw this.methodNotAllowed('GET, PUT, DELETE');
      }
    }
    if (path === '/members' || path.startsWith('/members/')) return this.membership(req, res, url, path);
    throw new HttpError(404, `no route for ${req.method} ${path}; try /kv/<key>, /members, /status, /metrics or /health`);
  }

  /** Prometheus scrapes this: the node's metrics() in text exposition format 0.0.4. */
  private metrics(req: IncomingMessage, res: ServerResponse): void {
    const body = formatPrometheus(this.node.metrics());
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private methodNotAllowed(allow: string): HttpError {
    return new HttpError(405, `method not allowed; allowed: ${allow}`, {}, { allow });
  }

  // ----- handlers -----

  private async get(res: ServerResponse, key: string, url: URL): Promise<void> {
    const readIndex = await this.barrier(url);
    const value = this.kv.get(key);
    const headers = { 'x-raft-applied': String(this.kv.applied), ...(readIndex ? { 'x-raft-read-index': String(readIndex) } : {}) };
    if (value === undefined) return this.json(res, 404, { error: 'key not found', key }, headers);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(value), ...headers });
    res.end(value);
  }

  private async list(res: ServerResponse, url: URL): Promise<void> {
    const readIndex = await this.barrier(url);
    const prefix = url.searchParams.get('prefix') ?? '';
    const body: Record<string, unknown> = { applied: this.kv.applied, count: this.kv.size, digest: this.kv.digest() };
    if (readIndex) body.readIndex = readIndex;
    if (url.searchParams.get('digest') !== 'true') body.keys = this.kv.keys(prefix);
    this.json(res, 200, body);
  }

  private async put(req: IncomingMessage, res: ServerResponse, key: string, url: URL): Promise<void> {
    const value = await this.readBody(req);
    const prevValue = url.searchParams.get('prevValue');
    const prevExist = url.searchParams.get('prevExist');
    if (prevExist !== null && prevExist !== 'false') throw new HttpError(400, 'prevExist only takes "false" (create the key only if it does not exist)');
    if (prevExist === 'false' && prevValue !== null) throw new HttpError(400, 'use either prevValue or prevExist=false, not both');
    const cmd: KvCommand =
      prevValue !== null ? { op: 'cas', key, prev: prevValue, value } : prevExist === 'false' ? { op: 'cas', key, prev: null, value } : { op: 'put', key, value };
    await this.write(res, cmd);
  }

  private async delete(res: ServerResponse, key: string, url: URL): Promise<void> {
    const prevValue = url.searchParams.get('prevValue');
    await this.write(res, prevValue !== null ? { op: 'delete', key, prev: prevValue } : { op: 'delete', key });
  }

  private async write(res: ServerResponse, cmd: KvCommand): Promise<void> {
    const data = encodeCommand(cmd);
    if (data.byteLength + PROPOSAL_OVERHEAD > this.node.config.maxSizePerMsg) {
      throw new HttpError(413, `the command is ${data.byteLength} bytes; the cluster takes at most ${this.node.config.maxSizePerMsg - PROPOSAL_OVERHEAD}`);
    }
    const deadline = this.deadlines.start();
    let out: Awaited<ReturnType<RaftNode<KvResult>['propose']>>;
    try {
      out = await this.node.propose(data, { signal: deadline.signal });
    } finally {
      deadline.done();
    }
    const r = out.result;
    const headers = { 'x-raft-index': String(out.index), 'x-raft-term': String(out.term) };
    if (r.ok) {
      if (r.op === 'delete' && r.prev === null) return this.json(res, 404, { error: 'key not found', key: r.key, index: out.index }, headers);
      return this.json(res, 200, { ok: true, key: r.key, prev: r.prev, index: out.index, term: out.term }, headers);
    }
    if (r.error === 'compare failed') return this.json(res, 412, { ok: false, error: 'compare failed', key: r.key, current: r.current, index: out.index }, headers);
    this.json(res, 400, { ok: false, error: `bad command: ${r.reason}` }, headers);
  }

  // ----- membership (admin routes, served by the leader) -----

  /**
   * `GET /members`, `POST /members` (body `{id, address, learner}`), `DELETE /members/:id`,
   * `POST /members/:id/promote`. Changes run on the leader (Raft §6: the leader appends the
   * configuration entry); a follower relays the request to the leader's HTTP address and its
   * answer back, so an operator can use any member. `GET /members?stale=true` answers locally.
   */
  private async membership(req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<void> {
    const m = /^\/members(?:\/([^/]+)(?:\/(promote|transfer-leadership))?)?\/?$/.exec(path);
    if (!m) throw new HttpError(404, `no route for ${req.method} ${path}; try /members, /members/<id>, /members/<id>/promote or /members/<id>/transfer-leadership`);
    const method = req.method ?? 'GET';
    let id: number | undefined;
    if (m[1] !== undefined) {
      if (!/^\d+$/.test(m[1]) || Number(m[1]) < 1 || !Number.isSafeInteger(Number(m[1]))) throw new HttpError(400, `bad member id ${JSON.stringify(m[1])}: a positive whole number`);
      id = Number(m[1]);
    }
    let action: 'list' | 'add' | 'remove' | 'promote' | 'transfer-leadership';
    if (id === undefined) {
      if (method === 'GET' || method === 'HEAD') action = 'list';
      else if (method === 'POST') action = 'add';
      else throw this.methodNotAllowed('GET, POST');
    } else if (m[2]) {
      if (method !== 'POST') throw this.methodNotAllowed('POST');
      action = m[2] as 'promote' | 'transfer-leadership';
    } else {
      if (method !== 'DELETE') throw this.methodNotAllowed('DELETE');
      action = 'remove';
    }
    const body = action === 'add' ? await this.readBody(req) : undefined;
    const add = body !== undefined ? parseAddMember(body) : undefined;
    const stale = url.searchParams.get('stale');
    if (action === 'list' && (stale === 'true' || stale === '1')) return this.json(res, 200, { leader: this.node.leader() || null, members: this.node.members() });
    if (!this.node.isLeader()) return this.forwardToLeader(req, res, body);
    const signal = AbortSignal.timeout(this.timeoutMs); // admin routes: rare, a timer of their own is fine
    let out: { index: number; term: number };
    switch (action) {
      case 'list':
        return this.json(res, 200, { leader: this.node.id, members: this.node.members() });
      case 'add':
        out = await this.node.addNode(add!.id, add!.address, { learner: add!.learner, signal });
        id = add!.id;
        break;
      case 'remove':
        out = await this.node.removeNode(id!, { signal });
        break;
      case 'promote':
        out = await this.node.promoteLearner(id!, { signal });
        break;
      case 'transfer-leadership':
        return this.json(res, 200, await transferLeadership(this.node, id!, signal));
    }
    const headers = { 'x-raft-index': String(out.index), 'x-raft-term': String(out.term) };
    this.json(res, 200, { ok: true, action, id, index: out.index, term: out.term, members: this.node.members() }, headers);
  }

  /**
   * Relays a membership request to the leader's HTTP API and its answer back. A request that was
   * itself relayed is not relayed again (the leader changed meanwhile): it gets 421 with the hint.
   */
  private forwardToLeader(req: IncomingMessage, res: ServerResponse, body: string | undefined): Promise<void> {
    const leader = this.node.leader();
    if (!leader || leader === this.node.id) throw new NotLeaderError(0);
    const hint = this.leaderHint(leader);
    if (!hint.leaderHttp || req.headers['x-raft-forwarded-by'] !== undefined) throw new NotLeaderError(leader, hint.leaderAddress ?? undefined);
    const target = hint.leaderHttp;
    const i = target.lastIndexOf(':');
    const headers: Record<string, string> = { 'x-raft-forwarded-by': String(this.node.id) };
    for (const h of ['content-type', 'authorization']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const mutation = req.method !== 'GET' && req.method !== 'HEAD';
    const upstream = { host: target.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target.slice(i + 1)), method: req.method, path: req.url, headers, agent: false as const, timeout: this.timeoutMs + 1000 };
    // Members serve one scheme: an HTTPS member relays over HTTPS and checks who answers, so the
    // bearer token it forwards is only ever shown to a certified leader.
    const send = (onAnswer: (up: IncomingMessage) => void) =>
      this.relayCa === undefined ? httpRequest(upstream, onAnswer) : httpsRequest({ ...upstream, ca: this.relayCa, rejectUnauthorized: true }, onAnswer);
    return new Promise((resolve, reject) => {
      const out = send(
        (up) => {
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('error', reject);
          up.on('end', () => {
            const relayed: Record<string, string> = { 'x-raft-forwarded-to': String(leader) };
            for (const [k, v] of Object.entries(up.headers)) {
              if (typeof v === 'string' && (k === 'content-type' || k === 'retry-after' || k === 'location' || k === 'allow' || k.startsWith('x-raft-'))) relayed[k] = v;
            }
            const text = Buffer.concat(chunks);
            if (res.headersSent) return resolve();
            res.writeHead(up.statusCode ?? 502, { ...relayed, 'content-length': text.byteLength });
            res.end(text);
            resolve();
          });
        },
      );
      // Over HTTPS nothing is sent before the handshake verified the leader: a failure before it
      // (an untrusted certificate, a plain-HTTP leader) changed nothing, whatever its error code.
      let handshaken = this.relayCa === undefined;
      out.on('socket', (socket) => socket.once('secureConnect', () => (handshaken = true)));
      out.on('timeout', () => out.destroy(new Error(`no answer within ${this.timeoutMs + 1000} ms`)));
      out.on('error', (err: Error & { code?: string }) => {
        const where = `the leader (node ${leader} at ${this.scheme}://${target})`;
        if (mutation && handshaken && !NOT_CONNECTED.has(err.code ?? '')) {
          reject(new HttpError(504, `${where} did not answer: ${err.message}; the change may or may not have been applied`, { ...hint, retryable: false, outcome: 'unknown' }));
        } else {
          reject(new HttpError(503, `${where} could not be reached: ${err.message}; nothing was changed, retry shortly`, { ...hint, retryable: true }, { 'retry-after': '1' }));
        }
      });
      out.end(body);
    });
  }

  private status(res: ServerResponse): void {
    const s = this.node.status();
    this.json(res, 200, {
      ...s,
      address: this.node.peerAddress(s.id) ?? null,
      http: this.httpPeers.get(s.id) ?? this.address(),
      leaderAddress: s.lead ? (this.node.peerAddress(s.lead) ?? null) : null,
      leaderHttp: s.lead ? (this.httpPeers.get(s.lead) ?? null) : null,
      kv: { applied: this.kv.applied, count: this.kv.size, digest: this.kv.digest() },
    });
  }

  /**
   * Ready (200) once a leader is known and this node applied everything committed when it started
   * (or, if more, what the leader had committed when it was first heard from): a restarted member
   * reports 503 while it replays or catches up, so a load balancer sends it nothing stale.
   */
  private health(res: ServerResponse): void {
    let s;
    try {
      s = this.node.status();
    } catch {
      return this.json(res, 503, { status: 'unavailable', reason: 'this node is stopped' }, { 'retry-after': '1' });
    }
    const base = { id: s.id, leader: s.lead || null, term: s.term, commit: s.commit, applied: s.applied };
    if (!s.lead) return this.json(res, 503, { status: 'unavailable', reason: 'no leader is known', ...base }, { 'retry-after': '1' });
    const target = (this.catchUpTarget ??= Math.max(this.startCommit, s.commit));
    if (s.applied < target) {
      return this.json(res, 503, { status: 'unavailable', reason: `catching up: applied ${s.applied} of ${target}`, ...base }, { 'retry-after': '1' });
    }
    this.json(res, 200, { status: 'ok', ...base });
  }

  // ----- helpers -----

  /** The ReadIndex barrier unless `stale=true`. Resolves with the read index (0 when skipped). */
  private async barrier(url: URL): Promise<number> {
    const stale = url.searchParams.get('stale');
    if (stale === 'true' || stale === '1') return 0;
    const deadline = this.deadlines.start();
    try {
      return await this.node.readIndex({ signal: deadline.signal });
    } finally {
      deadline.done();
    }
  }

  private readBody(req: IncomingMessage): Promise<string> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
      return Promise.reject(new HttpError(413, `the value is ${declared} bytes; at most ${this.maxBodyBytes} are accepted`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > this.maxBodyBytes) {
          done = true;
          reject(new HttpError(413, `the value exceeds ${this.maxBodyBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (done) return;
        done = true;
        const buf = Buffer.concat(chunks);
        // ignoreBOM: a leading U+FEFF is part of the value, not a marker to strip (a CAS with
        // the exact value written must match it).
        const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
        try {
          resolve(text.decode(buf));
        } catch {
          reject(new HttpError(400, 'the value must be UTF-8 text'));
        }
      });
      req.on('error', (err) => {
        if (!done) {
          done = true;
          reject(err);
        }
      });
    });
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(body) + '\n';
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  /** The leader hint every "ask the leader" answer carries. */
  private leaderHint(leaderId: number): { leader: number | null; leaderAddress: string | null; leaderHttp: string | null } {
    if (!leaderId) return { leader: null, leaderAddress: null, leaderHttp: null };
    return { leader: leaderId, leaderAddress: this.node.peerAddress(leaderId) ?? null, leaderHttp: this.httpPeers.get(leaderId) ?? null };
  }

  private fail(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    const e = this.toHttpError(err, req);
    if (e.status === 413) res.setHeader('connection', 'close');
    this.json(res, e.status, { error: e.message, retryable: false, ...e.extra }, e.headers);
    if (e.status === 413) res.on('finish', () => req.destroy());
  }

  /** Maps an error to its answer through the one table (`http-errors.ts`), adding the leader hint. */
  private toHttpError(err: unknown, req: IncomingMessage): HttpError {
    if (err instanceof HttpError) return err;
    if (err instanceof TypeError && err.message.startsWith('invalid kv command')) return new HttpError(400, err.message);
    const answer = httpAnswer(err);
    const retry: Record<string, string> = answer.retryable ? { 'retry-after': '1' } : {};
    const causes = causeChain(err);
    const detail: Record<string, unknown> = { retryable: answer.retryable, ...(causes.length > 0 ? { cause: causes.join(': ') } : {}) };
    if (err instanceof NotLeaderError) {
      // The node's own hint may lack the id (reads refused for want of a leader): ask the node.
      const leaderId = err.leaderId || (this.node.leader() !== this.node.id ? this.node.leader() : 0);
      const hint = this.leaderHint(leaderId);
      if (!hint.leader) return new HttpError(503, 'no leader is known right now; retry shortly', { ...hint, retryable: true }, { 'retry-after': '1' });
      const headers: Record<string, string> = { 'x-raft-leader': String(hint.leader) };
      if (hint.leaderHttp) headers.location = `${this.scheme}://${hint.leaderHttp}${req.url ?? '/'}`;
      return new HttpError(421, `this node is not the leader; send the request to node ${hint.leader}${hint.leaderHttp ? ` at ${this.scheme}://${hint.leaderHttp}` : ''}`, { ...hint, retryable: true }, headers);
    }
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ProposalDroppedError || err instanceof ConfChangeInProgressError) {
      return new HttpError(answer.status, `${message}; it was not applied, retry shortly`, { ...this.leaderHint(this.node.leader()), ...detail }, retry);
    }
    if (err instanceof StoppedError) return new HttpError(answer.status, 'this node is stopped; the request was not applied', detail, retry);
    if (err instanceof ProposalOutcomeUnknownError) {
      return new HttpError(answer.status, `${message}; the write may or may not have been applied`, { ...this.leaderHint(this.node.leader()), ...detail, outcome: 'unknown' });
    }
    if (answer.status === 504) {
      return new HttpError(504, `no answer from the cluster within ${this.timeoutMs} ms; a write may or may not have been applied`, { ...this.leaderHint(this.node.leader()), ...detail, outcome: 'unknown' });
    }
    if (answer.status >= 500) return new HttpError(answer.status, `internal error: ${message}`, detail, retry);
    return new HttpError(answer.status, message, detail, retry);
  }
}

/** Errors of a relay that never reached the leader: the request was not sent, nothing changed. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** The body of `POST /members`: `{"id": 4, "address": "host:port", "learner": true}`. */
function parseAddMember(body: string): { id: number; address: string; learner: boolean } {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'the body must be JSON: {"id": 4, "address": "host:port", "learner": true}');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'the body must be a JSON object: {"id": 4, "address": "host:port", "learner": true}');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'id' && k !== 'address' && k !== 'learner') throw new HttpError(400, `unknown field ${JSON.stringify(k)}; expected id, address, learner`);
  if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id) || o.id < 1) throw new HttpError(400, '"id" must be a positive whole number');
  if (typeof o.address !== 'string' || !isValidAddress(o.address)) throw new HttpError(400, '"address" must be the new member\'s Raft address, host:port with a port in 1..65535');
  if (o.learner !== undefined && typeof o.learner !== 'boolean') throw new HttpError(400, '"learner" must be true or false');
  return { id: o.id, address: o.address, learner: o.learner === true };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Creates the HTTP API of one member. Call `listen(address)` to serve it. */
export function createKvHttpServer(opts: KvHttpServerOptions): KvHttpServer {
  return new KvHttpServer(opts);
}
