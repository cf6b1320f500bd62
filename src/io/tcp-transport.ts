/**
 * `BidirectionalTransport`: Raft messages over TCP (optionally TLS), one connection per pair of
 * nodes, used in both directions.
 *
 * Why one connection: two per pair (one for each direction, as a naive design gets) doubles the
 * sockets and lets the two directions fail independently, so a node may keep sending to a peer it
 * can no longer hear. Both nodes dial each other eagerly, so sometimes both dials succeed; both
 * ends then rank the connections by the same rule (the dial by the lower node id wins, then the
 * lower dialer nonce) and the node that dialed the loser closes it gracefully, so nothing written
 * on it is lost.
 *
 * Failure handling: a failed dial or a lost connection reports the peer unreachable (so the
 * leader's replicator drops to probe), records a failure in the peer's circuit breaker and redials
 * after an exponential backoff with jitter. While the breaker is open, sends to that peer are
 * dropped without touching a socket and no dials are made; after the sleep window one trial dial
 * is let through, and its success (or the peer reaching us first) closes the breaker.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Subject, skip } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import { isValidAddress } from '../config.ts';
import type { Peer } from '../config.ts';
import { ConfigError, InvalidPeerError } from '../errors.ts';
import type { InvalidMessageError } from '../errors.ts';
import type { Message } from '../raft/raftpb.ts';
import type { PeerReport } from '../raft/member-identity.ts';
import { Backoff } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';
import { CircuitBreaker, CircuitState } from './circuit-breaker.ts';
import type { CircuitBreakerOptions, Clock } from './circuit-breaker.ts';
import type { FrameTooLargeError } from './frame.ts';
import { PeerConnection } from './peer-connection.ts';
import type { ConnectionListener, ConnectionSettings, HandshakeFailure } from './peer-connection.ts';
import type { BatchTransport, MessageHandler } from './transport.ts';
import { INCARNATION_BYTES, encodeMessage } from './wire.ts';

export interface TransportTlsOptions {
  /** Passed to `tls.createServer` (key, cert, ca, requestCert, ...). */
  server: tls.TlsOptions;
  /** Passed to `tls.connect` for every dial (ca, cert, key, servername, ...). */
  client?: tls.ConnectionOptions;
}

export interface BidirectionalTransportOptions {
  nodeId: number;
  /** `host:port` to listen on; port 0 picks a free port (see `address()`). */
  bindAddr: string;
  /** Receives every validated message from a peer. */
  handler: MessageHandler;
  /** Peers of another cluster are refused at the handshake. */
  clusterId: string;
  /** Shared by all members; proves membership in the handshake. At least 16 bytes recommended. */
  secret: string | Uint8Array;
  peers?: readonly Peer[];
  /** Config.maxSizePerMsg; the frame cap is derived from it. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Largest frame body accepted or sent. Default 2 × maxSizePerMsg + 64 KiB. */
  maxFrameSize?: number;
  /** Bytes queued in a peer's socket beyond which sends to it are dropped. Default 2 × maxFrameSize. */
  maxBufferedBytesPerPeer?: number;
  /** Time for dial + handshake before the connection is abandoned, ms. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Unauthenticated inbound connections allowed at once; more are closed on arrival. Default 64. */
  maxPendingHandshakes?: number;
  tls?: TransportTlsOptions;
  /** Called on every failed dial and lost connection (the node turns it into MsgUnreachable). */
  onUnreachable?: (peerId: number) => void;
  backoff?: BackoffOptions;
  /**
   * Member identity (docs/membership.md): this node's data-directory incarnation (16 bytes; random
   * per transport when absent), whether its store is still empty, and what it recorded for each
   * peer. Each is said in the hello; `onPeerReport` hears what every authenticated peer said.
   */
  identity?: {
    readonly incarnation: Uint8Array;
    readonly pristine?: () => boolean;
    readonly knownIncarnation?: (peerId: number) => Uint8Array | undefined;
    readonly onPeerReport?: (peerId: number, report: PeerReport) => void;
  };
  circuitBreaker?: Omit<CircuitBreakerOptions, 'clock'>;
  clock?: Clock;
}

export type DropReason = 'unknownPeer' | 'circuitOpen' | 'notConnected' | 'backpressure' | 'tooLarge' | 'stopped';

export interface PeerStats {
  readonly address: string;
  readonly connected: boolean;
  /** Authenticated connections currently usable for writing (1 in steady state). */
  readonly connections: number;
  readonly circuit: CircuitState;
}

export interface TransportStats {
  /** Messages written to sockets. */
  readonly sent: number;
  readonly bytesSent: number;
  /** Valid messages delivered to the handler. */
  readonly received: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Frames from authenticated peers that did not decode to a valid Message. */
  readonly invalidMessages: number;
  /** Frames above the cap (the connection was closed). */
  readonly oversizedFrames: number;
  /** Handshakes refused for a bad proof, cluster, version or node id. */
  readonly authFailures: number;
  /** Every handshake that did not complete, by reason. */
  readonly handshakeFailures: Readonly<Record<HandshakeFailure, number>>;
  readonly handshakes: number;
  /** Inbound connections closed on arrival because too many were unauthenticated. */
  readonly rejectedConnections: number;
  readonly dialAttempts: number;
  readonly dialFailures: number;
  /** Connections re-established to a peer that had been connected before. */
  readonly reconnects: number;
  /** Exceptions thrown by the message handler (caught so one bad handler call cannot kill a socket). */
  readonly handlerErrors: number;
  /** Sockets open right now, authenticated or not. */
  readonly openSockets: number;
  readonly peers: Readonly<Record<number, PeerStats>>;
}

export interface CircuitChange {
  readonly peerId: number;
  readonly state: CircuitState;
}

const authProblems: ReadonlySet<HandshakeFailure> = new Set(['badProof', 'protocol', 'version', 'cluster', 'unknownPeer', 'wrongPeer', 'self']);

/** One remote node: its address, its connections, and its redial state. */
interface PeerLink {
  readonly id: number;
  address: string;
  /** Authenticated connections we may write to; `active` is the best of them. */
  readonly connections: Set<PeerConnection>;
  active: PeerConnection | undefined;
  dialing: PeerConnection | undefined;
  redialTimer: NodeJS.Timeout | undefined;
  readonly backoff: Backoff;
  readonly breaker: CircuitBreaker;
  /** Mirrors the breaker's state so the send path does not step a machine per message. */
  circuit: CircuitState;
  readonly circuitSub: Subscription;
  everConnected: boolean;
}

export class BidirectionalTransport implements BatchTransport {
  private readonly nodeId: number;
  private readonly bindHost: string;
  private readonly bindPort: number;
  private readonly handler: MessageHandler;
  private readonly options: BidirectionalTransportOptions;
  private readonly clock: Clock;
  private readonly maxFrameSize: number;
  private readonly maxBufferedBytes: number;
  private readonly maxPendingHandshakes: number;
  private readonly settings: ConnectionSettings;
  private readonly peers = new Map<number, PeerLink>();
  private readonly sockets = new Set<PeerConnection>();
  private readonly pendingInbound = new Set<PeerConnection>();
  private readonly circuitChanges = new Subject<CircuitChange>();
  private server: net.Server | undefined;
  private started = false;
  private stopped = false;
  private readonly counters = {
    sent: 0,
    bytesSent: 0,
    received: 0,
    invalidMessages: 0,
    oversizedFrames: 0,
    authFailures: 0,
    handshakes: 0,
    rejectedConnections: 0,
    dialAttempts: 0,
    dialFailures: 0,
    reconnects: 0,
    handlerErrors: 0,
  };
  private readonly dropped: Record<DropReason, number> = {
    unknownPeer: 0,
    circuitOpen: 0,
    notConnected: 0,
    backpressure: 0,
    tooLarge: 0,
    stopped: 0,
  };
  private readonly handshakeFailures: Record<HandshakeFailure, number> = {
    protocol: 0,
    version: 0,
    cluster: 0,
    unknownPeer: 0,
    wrongPeer: 0,
    self: 0,
    badProof: 0,
    malformed: 0,
    oversized: 0,
    timeout: 0,
    closed: 0,
  };

  /** Per-peer circuit breaker state changes, for the node to expose (e.g. in `status()`). */
  readonly circuit$: Observable<CircuitChange> = this.circuitChanges.asObservable();

  constructor(options: BidirectionalTransportOptions) {
    this.options = options;
    this.nodeId = requireNodeId('nodeId', options.nodeId);
    const inc = options.identity?.incarnation;
    if (inc !== undefined && (!(inc instanceof Uint8Array) || inc.length !== INCARNATION_BYTES)) {
      throw new ConfigError('identity.incarnation', `must be ${INCARNATION_BYTES} bytes`);
    }
    [this.bindHost, this.bindPort] = parseBindAddr(options.bindAddr);
    if (typeof options.handler !== 'function') throw new ConfigError('handler', 'must be a function (msg) => void');
    if (typeof options.clusterId !== 'string' || options.clusterId.length === 0 || options.clusterId.length > 256) {
      throw new ConfigError('clusterId', 'must be a non-empty string of at most 256 characters');
    }
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (!(secret instanceof Uint8Array) || secret.length === 0) throw new ConfigError('secret', 'must be a non-empty string or Uint8Array');
    this.handler = options.handler;
    this.clock = options.clock ?? Date.now;
    const maxSizePerMsg = requirePositive('maxSizePerMsg', options.maxSizePerMsg ?? 1024 * 1024);
    this.maxFrameSize = requirePositive('maxFrameSize', options.maxFrameSize ?? 2 * maxSizePerMsg + 64 * 1024);
    this.maxBufferedBytes = requirePositive('maxBufferedBytesPerPeer', options.maxBufferedBytesPerPeer ?? 2 * this.maxFrameSize);
    this.maxPendingHandshakes = requirePositive('maxPendingHandshakes', options.maxPendingHandshakes ?? 64);
    this.settings = {
      selfId: this.nodeId,
      clusterId: options.clusterId,
      secret,
      incarnation: options.identity?.incarnation ?? randomBytes(INCARNATION_BYTES),
      boot: randomBytes(INCARNATION_BYTES),
      pristine: options.identity?.pristine,
      knownIncarnation: options.identity?.knownIncarnation,
      isKnownPeer: (id) => this.peers.has(id),
      handshakeFrameLimit: 4096,
      messageFrameLimit: this.maxFrameSize,
      handshakeTimeoutMs: requirePositive('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 5000),
    };
    for (const p of options.peers ?? []) this.addPeer(p.id, p.address);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.started) throw new ConfigError('start', 'transport was already started');
    this.started = true;
    const server = this.options.tls
      ? tls.createServer(this.options.tls.server, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    server.on('tlsClientError', () => this.handshakeFailures.malformed++);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.bindPort, this.bindHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // accept errors (EMFILE, ...) must not crash the node; connections retry
    for (const link of this.peers.values()) this.attemptDial(link);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const link of this.peers.values()) this.disposeLink(link);
    for (const conn of this.sockets) conn.destroy();
    this.circuitChanges.complete();
    const server = this.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The address actually bound, as `host:port` (useful with port 0). */
  address(): string {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new ConfigError('bindAddr', 'transport is not listening; call start() first');
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  // ---- membership ----------------------------------------------------------------------------

  addPeer(nodeId: number, address: string): void {
    if (typeof nodeId !== 'number' || !Number.isSafeInteger(nodeId) || nodeId < 1) {
      throw new InvalidPeerError(nodeId, 'id must be a positive integer');
    }
    if (nodeId === this.nodeId) throw new InvalidPeerError(nodeId, 'is this node itself');
    if (!isValidAddress(address)) throw new InvalidPeerError(nodeId, `address must be host:port, got ${JSON.stringify(address)}`);
    const existing = this.peers.get(nodeId);
    if (existing) {
      if (existing.address === address) return;
      existing.address = address; // the node moved: drop what we have and dial the new address
      for (const conn of existing.connections) conn.destroy();
      return;
    }
    const link = this.createLink(nodeId, address);
    this.peers.set(nodeId, link);
    if (this.started && !this.stopped) this.attemptDial(link);
  }

  removePeer(nodeId: number): void {
    const link = this.peers.get(nodeId);
    if (!link) return;
    this.peers.delete(nodeId);
    this.disposeLink(link);
  }

  private createLink(id: number, address: string): PeerLink {
    const breaker = new CircuitBreaker({ ...this.options.circuitBreaker, clock: this.clock });
    const link: PeerLink = {
      id,
      address,
      connections: new Set(),
      active: undefined,
      dialing: undefined,
      redialTimer: undefined,
      backoff: new Backoff(this.options.backoff),
      breaker,
      circuit: CircuitState.Closed,
      circuitSub: breaker.state$.pipe(skip(1)).subscribe((state) => {
        link.circuit = state;
        this.circuitChanges.next({ peerId: id, state });
      }),
      everConnected: false,
    };
    return link;
  }

  private disposeLink(link: PeerLink): void {
    clearTimeout(link.redialTimer);
    link.redialTimer = undefined;
    link.dialing?.destroy();
    for (const conn of link.connections) conn.destroy();
    link.connections.clear();
    link.active = undefined;
    link.circuitSub.unsubscribe();
    link.breaker.dispose();
  }

  // ---- sending -------------------------------------------------------------------------------

  send(msg: Message): void {
    this.sendBatch(msg.to, [msg]);
  }

  /** Send messages to one peer as a single socket write; drops (and counts) what cannot go now. */
  sendBatch(to: number, msgs: readonly Message[]): void {
    if (msgs.length === 0) return;
    const link = this.peers.get(to);
    const blocked = this.stopped || !this.started ? 'stopped' : !link ? 'unknownPeer' : this.blockedReason(link);
    if (blocked) {
      this.dropped[blocked] += msgs.length;
      return;
    }
    const conn = link!.active!;
    const bodies: Uint8Array[] = [];
    for (const msg of msgs) {
      const body = encodeMessage(msg);
      if (body.length > this.maxFrameSize) this.dropped.tooLarge++;
      else bodies.push(body);
    }
    if (bodies.length === 0) return;
    this.counters.bytesSent += conn.writeFrames(bodies);
    this.counters.sent += bodies.length;
  }

  private blockedReason(link: PeerLink): DropReason | undefined {
    if (link.circuit !== CircuitState.Closed) return 'circuitOpen';
    if (!link.active) return 'notConnected';
    if (link.active.bufferedBytes > this.maxBufferedBytes) return 'backpressure';
    return undefined;
  }

  // ---- dialing -------------------------------------------------------------------------------

  /** Dial `link` now if nothing connects us and the breaker allows it; otherwise wait. */
  private attemptDial(link: PeerLink): void {
    if (this.stopped || this.peers.get(link.id) !== link) return;
    if (link.connections.size > 0 || link.dialing || link.redialTimer) return;
    if (!link.breaker.call()) {
      this.scheduleRedial(link, link.breaker.retryAfter());
      return;
    }
    this.dial(link);
  }

  private dial(link: PeerLink): void {
    this.counters.dialAttempts++;
    const [host, port] = splitHostPort(link.address);
    const socket = this.options.tls
      ? tls.connect({ ...this.options.tls.client, host, port })
      : net.connect({ host, port });
    const conn = new PeerConnection(socket, 'dialer', this.settings, this.listener, link.id, false);
    socket.once(this.options.tls ? 'secureConnect' : 'connect', () => conn.onConnected());
    link.dialing = conn;
    this.sockets.add(conn);
  }

  private scheduleRedial(link: PeerLink, atLeastMs = 0): void {
    if (this.stopped || link.redialTimer || link.dialing) return;
    const delay = Math.max(link.backoff.next(), atLeastMs);
    link.redialTimer = setTimeout(() => {
      link.redialTimer = undefined;
      this.attemptDial(link);
    }, delay);
  }

  /** A dial failed or the last connection died: tell the node, count it, and try again later. */
  private peerFailed(link: PeerLink): void {
    if (this.stopped || this.peers.get(link.id) !== link || link.connections.size > 0) return;
    link.breaker.recordFailure();
    this.options.onUnreachable?.(link.id);
    this.scheduleRedial(link, link.circuit === CircuitState.Closed ? 0 : link.breaker.retryAfter());
  }

  // ---- accepting -----------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.stopped || this.pendingInbound.size >= this.maxPendingHandshakes) {
      this.counters.rejectedConnections++;
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const conn = new PeerConnection(socket, 'acceptor', this.settings, this.listener, undefined, true);
    this.sockets.add(conn);
    this.pendingInbound.add(conn);
  }

  // ---- connection events ---------------------------------------------------------------------

  private readonly listener: ConnectionListener = {
    authenticated: (conn) => this.onAuthenticated(conn),
    message: (conn, msg) => this.deliver(msg, conn.peerReport),
    invalidMessage: (_conn: PeerConnection, _err: InvalidMessageError) => void this.counters.invalidMessages++,
    oversizedFrame: (_conn: PeerConnection, _err: FrameTooLargeError) => void this.counters.oversizedFrames++,
    closed: (conn, failure) => this.onClosed(conn, failure),
  };

  private deliver(msg: Message, sender: PeerReport | undefined): void {
    this.counters.received++;
    try {
      this.handler(msg, sender);
    } catch {
      this.counters.handlerErrors++;
    }
  }

  private onAuthenticated(conn: PeerConnection): void {
    this.pendingInbound.delete(conn);
    const link = this.peers.get(conn.peerId!);
    if (this.stopped || !link) {
      conn.destroy();
      return;
    }
    this.counters.handshakes++;
    if (link.dialing === conn) link.dialing = undefined;
    const report = conn.peerReport;
    if (report) {
      try {
        this.options.identity?.onPeerReport?.(link.id, report);
      } catch {
        this.counters.handlerErrors++;
      }
    }
    this.dropOtherIncarnations(link, conn);
    const wasDisconnected = link.connections.size === 0;
    link.connections.add(conn);
    this.chooseActive(link);
    if (wasDisconnected) {
      if (link.everConnected) this.counters.reconnects++;
      link.everConnected = true;
      clearTimeout(link.redialTimer);
      link.redialTimer = undefined;
      link.backoff.reset();
      link.breaker.recordSuccess();
    }
  }

  /** A connection from a newer run of the peer means the older ones lead to a dead process. */
  private dropOtherIncarnations(link: PeerLink, conn: PeerConnection): void {
    for (const other of link.connections) {
      if (!Buffer.from(other.remoteRun!).equals(conn.remoteRun!)) {
        link.connections.delete(other);
        other.destroy();
      }
    }
  }

  /**
   * The tie-break: both ends rank connections identically (dial of the lower node id first, then
   * lower dialer nonce), so they settle on the same one. Losers we dialed are ended gracefully;
   * losers the peer dialed are left for the peer to end, and we keep reading them until it does.
   */
  private chooseActive(link: PeerLink): void {
    const ranked = [...link.connections].sort((a, b) => compareConnections(a, b, Math.min(this.nodeId, link.id)));
    link.active = ranked[0];
    for (const loser of ranked.slice(1)) {
      if (loser.role === 'dialer') {
        link.connections.delete(loser);
        loser.end();
      }
    }
  }

  private onClosed(conn: PeerConnection, failure: HandshakeFailure | undefined): void {
    this.sockets.delete(conn);
    this.pendingInbound.delete(conn);
    if (failure) {
      this.handshakeFailures[failure]++;
      if (authProblems.has(failure)) this.counters.authFailures++;
    }
    const link = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
    if (!link) return;
    if (link.dialing === conn) {
      link.dialing = undefined;
      this.counters.dialFailures++;
      this.peerFailed(link);
      return;
    }
    if (!link.connections.delete(conn)) return;
    if (link.active === conn) this.chooseActive(link);
    if (link.connections.size === 0) this.peerFailed(link);
  }

  // ---- observability -------------------------------------------------------------------------

  stats(): TransportStats {
    const peers: Record<number, PeerStats> = {};
    for (const link of this.peers.values()) {
      peers[link.id] = {
        address: link.address,
        connected: link.active !== undefined,
        connections: link.connections.size,
        circuit: link.circuit,
      };
    }
    return {
      ...this.counters,
      dropped: { ...this.dropped },
      handshakeFailures: { ...this.handshakeFailures },
      openSockets: this.sockets.size,
      peers,
    };
  }

  /** The breaker of one peer (read-only use: state, isOpen), for status pages and tests. */
  circuitState(peerId: number): CircuitState | undefined {
    return this.peers.get(peerId)?.breaker.state();
  }
}

function compareConnections(a: PeerConnection, b: PeerConnection, preferredDialer: number): number {
  const aPreferred = a.dialerId === preferredDialer ? 0 : 1;
  const bPreferred = b.dialerId === preferredDialer ? 0 : 1;
  if (aPreferred !== bPreferred) return aPreferred - bPreferred;
  return Buffer.compare(a.dialerNonce, b.dialerNonce);
}

function requireNodeId(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function requirePositive(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** `host:port` → [host, port], IPv6 brackets removed. Assumes the address was validated. */
function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return [host, Number(address.slice(i + 1))];
}

/** Like peer addresses, but port 0 ("any free port") is allowed for binding. */
function parseBindAddr(addr: unknown): [string, number] {
  if (typeof addr !== 'string' || !/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(addr)) {
    throw new ConfigError('bindAddr', `must be host:port (port 0 for any free port), got ${JSON.stringify(addr)}`);
  }
  const [host, port] = splitHostPort(addr);
  if (port > 65535) throw new ConfigError('bindAddr', `port must be at most 65535, got ${port}`);
  return [host, port];
}
