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
import { canonicalAddress, isValidAddress, validateSecret } from '../config.ts';
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
import type { FrameCipherName } from './frame-cipher.ts';
import { DEFAULT_FRAME_CIPHER, FRAME_CIPHERS } from './frame-cipher.ts';
import { RateLimitedLog } from './rate-limited-log.ts';
import type { WarnLogger } from './rate-limited-log.ts';
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
  /**
   * Shared by all members; proves membership in the handshake and keys the frame cipher. Must carry
   * at least 128 bits (`actor-raft secret` prints a fresh one); a weaker one is a ConfigError.
   */
  secret: string | Uint8Array;
  peers?: readonly Peer[];
  /** Config.maxSizePerMsg; the frame cap is derived from it. Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Largest frame body accepted or sent. Default 2 × maxSizePerMsg + 64 KiB. */
  maxFrameSize?: number;
  /** Bytes queued in a peer's socket beyond which sends to it are dropped. Default 2 × maxFrameSize. */
  maxBufferedBytesPerPeer?: number;
  /** Time for dial + handshake before the connection is abandoned, ms. Default 2000. */
  handshakeTimeoutMs?: number;
  /**
   * Unauthenticated inbound connections allowed at once. When full, the oldest one that has not
   * even sent its hello is closed to make room (members send theirs at once). Default 1024.
   */
  maxPendingHandshakes?: number;
  /**
   * Unauthenticated inbound connections allowed at once from one source address that is not a
   * member's address; more are closed on arrival. Default 16.
   */
  maxPendingHandshakesPerAddress?: number;
  /** How frames after the handshake are sealed; every member must use the same. Default chacha20-poly1305. */
  frameCipher?: FrameCipherName;
  /** Receives rate-limited warnings about refused connections, frames and messages. */
  logger?: WarnLogger;
  /** At most one warning per peer (or source address) and kind in this window, ms. Default 10000. */
  logIntervalMs?: number;
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
  /** Messages written to this peer's sockets. */
  readonly messagesSent: number;
  /** Frame bytes written to this peer. */
  readonly bytesSent: number;
  /** Valid messages received from this peer. */
  readonly messagesReceived: number;
  /** Bytes read from this peer's authenticated connections, handshakes included. */
  readonly bytesReceived: number;
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
  /**
   * Sealed frames that failed authentication (forged, altered, replayed, reordered or after a
   * lost one) or held a malformed record; each closed its connection, which is then redialed.
   */
  readonly rejectedFrames: number;
  /** Frames above the cap (the connection was closed). */
  readonly oversizedFrames: number;
  /** Handshakes refused for a bad proof, cluster, version or node id. */
  readonly authFailures: number;
  /** Every handshake that did not complete, by reason. */
  readonly handshakeFailures: Readonly<Record<HandshakeFailure, number>>;
  readonly handshakes: number;
  /** Inbound connections closed on arrival because too many from their address were unauthenticated. */
  readonly rejectedConnections: number;
  /** Unauthenticated inbound connections closed to make room for a new one (the pool was full). */
  readonly evictedHandshakes: number;
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
  messagesSent: number;
  bytesSent: number;
  messagesReceived: number;
  /** Bytes read by this peer's connections that have closed (open ones are read from their sockets). */
  closedBytesReceived: number;
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
  /** Unauthenticated inbound connections, oldest first, with their source address. */
  private readonly pendingInbound = new Map<PeerConnection, string>();
  private readonly pendingBySource = new Map<string, number>();
  private readonly maxPendingPerAddress: number;
  /** Source addresses of the configured members: never subject to the per-address cap. */
  private memberHosts = new Set<string>();
  private readonly warnings: RateLimitedLog;
  private readonly circuitChanges = new Subject<CircuitChange>();
  private server: net.Server | undefined;
  private started = false;
  private stopped = false;
  private readonly counters = {
    sent: 0,
    bytesSent: 0,
    received: 0,
    invalidMessages: 0,
    rejectedFrames: 0,
    oversizedFrames: 0,
    authFailures: 0,
    handshakes: 0,
    rejectedConnections: 0,
    evictedHandshakes: 0,
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
    const secret = validateSecret(options.secret);
    const frameCipher = options.frameCipher ?? DEFAULT_FRAME_CIPHER;
    if (!FRAME_CIPHERS.includes(frameCipher)) throw new ConfigError('frameCipher', `must be one of ${FRAME_CIPHERS.join(', ')}, got ${JSON.stringify(frameCipher)}`);
    this.handler = options.handler;
    this.clock = options.clock ?? Date.now;
    const maxSizePerMsg = requirePositive('maxSizePerMsg', options.maxSizePerMsg ?? 1024 * 1024);
    this.maxFrameSize = requirePositive('maxFrameSize', options.maxFrameSize ?? 2 * maxSizePerMsg + 64 * 1024);
    this.maxBufferedBytes = requirePositive('maxBufferedBytesPerPeer', options.maxBufferedBytesPerPeer ?? 2 * this.maxFrameSize);
    this.maxPendingHandshakes = requirePositive('maxPendingHandshakes', options.maxPendingHandshakes ?? 1024);
    this.maxPendingPerAddress = requirePositive('maxPendingHandshakesPerAddress', options.maxPendingHandshakesPerAddress ?? 16);
    this.warnings = new RateLimitedLog(options.logger, requirePositive('logIntervalMs', options.logIntervalMs ?? 10_000), this.clock);
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
      handshakeTimeoutMs: requirePositive('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 2000),
      frameCipher,
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
      if (canonicalAddress(existing.address) === canonicalAddress(address)) return;
      existing.address = address; // the node moved: drop what we have and dial the new address
      for (const conn of existing.connections) conn.destroy();
      return;
    }
    const link = this.createLink(nodeId, address);
    this.peers.set(nodeId, link);
    this.refreshMemberHosts();
    if (this.started && !this.stopped) this.attemptDial(link);
  }

  removePeer(nodeId: number): void {
    const link = this.peers.get(nodeId);
    if (!link) return;
    this.peers.delete(nodeId);
    this.disposeLink(link);
    this.refreshMemberHosts();
  }

  private refreshMemberHosts(): void {
    this.memberHosts = new Set([...this.peers.values()].map((l) => sourceHost(splitHostPort(canonicalAddress(l.address))[0])));
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
      messagesSent: 0,
      bytesSent: 0,
      messagesReceived: 0,
      closedBytesReceived: 0,
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
    const written = conn.writeFrames(bodies);
    this.counters.bytesSent += written;
    this.counters.sent += bodies.length;
    link!.bytesSent += written;
    link!.messagesSent += bodies.length;
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

  /**
   * Flood resistance. Strangers need no secret to open connections, so unauthenticated ones are
   * bounded: per source address (except the members' own addresses) and in total. When the total
   * is reached, the oldest connection that has not sent its hello yet is closed to make room:
   * a member sends its hello the moment it connects and finishes the handshake within a round
   * trip or two, so idle strangers are what gets evicted, and a member's dial is never refused
   * because strangers got there first. Everything unauthenticated also dies at the (short)
   * handshake timeout.
   */
  private accept(socket: net.Socket): void {
    const source = sourceHost(socket.remoteAddress ?? '');
    if (this.stopped) return this.refuse(socket, source, 'stopped');
    if (!this.memberHosts.has(source) && (this.pendingBySource.get(source) ?? 0) >= this.maxPendingPerAddress) {
      return this.refuse(socket, source, `more than ${this.maxPendingPerAddress} unauthenticated connections from this address`);
    }
    if (this.pendingInbound.size >= this.maxPendingHandshakes && !this.evictOldestPending()) {
      return this.refuse(socket, source, `more than ${this.maxPendingHandshakes} unauthenticated connections in all`);
    }
    const conn = new PeerConnection(socket, 'acceptor', this.settings, this.listener, undefined, true);
    this.sockets.add(conn);
    this.pendingInbound.set(conn, source);
    this.pendingBySource.set(source, (this.pendingBySource.get(source) ?? 0) + 1);
  }

  private refuse(socket: net.Socket, source: string, reason: string): void {
    this.counters.rejectedConnections++;
    if (!this.stopped) this.warnings.warn(`refused:${source}`, 'refused an inbound connection', { from: source, reason });
    socket.on('error', () => {});
    socket.destroy();
  }

  /** Close the oldest unauthenticated connection, strangers' silent ones first. False if none may go. */
  private evictOldestPending(): boolean {
    let victim: PeerConnection | undefined;
    let victimSource = '';
    for (const [conn, source] of this.pendingInbound) {
      if (conn.hasHello) continue;
      if (!this.memberHosts.has(source)) {
        victim = conn;
        victimSource = source;
        break;
      }
      if (!victim) {
        victim = conn;
        victimSource = source;
      }
    }
    if (!victim) return false;
    this.counters.evictedHandshakes++;
    this.warnings.warn(`evicted:${victimSource}`, 'closed an idle unauthenticated connection to make room', { from: victimSource, pending: this.pendingInbound.size });
    this.forgetPending(victim);
    victim.destroy();
    return true;
  }

  private forgetPending(conn: PeerConnection): void {
    const source = this.pendingInbound.get(conn);
    if (source === undefined) return;
    this.pendingInbound.delete(conn);
    const left = (this.pendingBySource.get(source) ?? 1) - 1;
    if (left > 0) this.pendingBySource.set(source, left);
    else this.pendingBySource.delete(source);
  }

  // ---- connection events ---------------------------------------------------------------------

  private readonly listener: ConnectionListener = {
    authenticated: (conn) => this.onAuthenticated(conn),
    message: (conn, msg) => this.deliver(msg, conn.peerReport),
    invalidMessage: (conn: PeerConnection, err: InvalidMessageError) => {
      this.counters.invalidMessages++;
      this.warnings.warn(`invalid:${conn.peerId}`, 'refused an invalid message from a peer', { peer: conn.peerId, reason: err.message });
    },
    oversizedFrame: (conn: PeerConnection, err: FrameTooLargeError) => {
      this.counters.oversizedFrames++;
      this.warnings.warn(`oversized:${conn.peerId}`, 'closed a peer connection: frame above the cap', { peer: conn.peerId, reason: err.message });
    },
    rejectedFrame: (conn: PeerConnection, err: InvalidMessageError) => {
      this.counters.rejectedFrames++;
      this.warnings.warn(`rejected:${conn.peerId}`, 'closed a peer connection: a frame failed authentication; redialing', {
        peer: conn.peerId,
        reason: err.message,
      });
    },
    closed: (conn, failure) => this.onClosed(conn, failure),
  };

  private deliver(msg: Message, sender: PeerReport | undefined): void {
    this.counters.received++;
    const link = this.peers.get(msg.from);
    if (link) link.messagesReceived++;
    try {
      this.handler(msg, sender);
    } catch {
      this.counters.handlerErrors++;
    }
  }

  private onAuthenticated(conn: PeerConnection): void {
    this.forgetPending(conn);
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
        link.closedBytesReceived += other.bytesRead;
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
        link.closedBytesReceived += loser.bytesRead;
        loser.end();
      }
    }
  }

  private onClosed(conn: PeerConnection, failure: HandshakeFailure | undefined): void {
    this.sockets.delete(conn);
    const source = this.pendingInbound.get(conn);
    this.forgetPending(conn);
    if (failure) {
      this.handshakeFailures[failure]++;
      if (authProblems.has(failure)) this.counters.authFailures++;
      if (!this.stopped && failure !== 'closed') {
        const from = source ?? this.peers.get(conn.peerId ?? 0)?.address ?? 'unknown';
        this.warnings.warn(`handshake:${from}:${failure}`, 'handshake failed', { from, reason: failure, peer: conn.peerId });
      }
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
    link.closedBytesReceived += conn.bytesRead;
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
        messagesSent: link.messagesSent,
        bytesSent: link.bytesSent,
        messagesReceived: link.messagesReceived,
        bytesReceived: link.closedBytesReceived + sumBytesRead(link.connections),
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

function sumBytesRead(connections: Iterable<PeerConnection>): number {
  let n = 0;
  for (const c of connections) n += c.bytesRead;
  return n;
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

/** A socket's remote address as compared with member hosts (IPv4-mapped IPv6 unwrapped). */
function sourceHost(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h;
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
