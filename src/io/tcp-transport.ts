/**
 * `BidirectionalTransport`: Raft messages over TCP (optionally TLS), one connection per pair of
 * nodes, used in both directions. This file holds the links and the listener; the pieces with a
 * job of their own live beside it: each peer's link and the connection tie-break (peer-link.ts),
 * when to redial (redial-policy.ts), the figures (transport-stats.ts), addresses (socket-address.ts).
 *
 * Why one connection: two per pair (one for each direction, as a naive design gets) doubles the
 * sockets and lets the two directions fail independently, so a node may keep sending to a peer it
 * can no longer hear.
 *
 * Failure handling: a failed dial or a lost connection is reported (`onUnreachable`; the node turns
 * it into MsgUnreachable for the leader's replicator of that peer), and every authenticated
 * connection is reported too (`identity.onPeerReport`, which the node also takes as "reachable").
 * How long to hold back from a failing peer — its backoff and circuit breaker — is the
 * replicator's business, on ticks; the transport only keeps sockets up, on the injected Clock.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { canonicalAddress, isValidAddress, validateSecret } from '../config.ts';
import type { Peer } from '../config.ts';
import { ConfigError, InvalidPeerError } from '../errors.ts';
import type { InvalidMessageError } from '../errors.ts';
import type { Message } from '../raft/raftpb.ts';
import type { PeerReport } from '../raft/member-identity.ts';
import { type Clock, systemClock } from './clock.ts';
import type { FrameTooLargeError } from './frame.ts';
import type { FrameCipherName } from './frame-cipher.ts';
import { DEFAULT_FRAME_CIPHER, FRAME_CIPHERS } from './frame-cipher.ts';
import { RateLimitedLog } from './rate-limited-log.ts';
import type { WarnLogger } from './rate-limited-log.ts';
import { PeerConnection } from './peer-connection.ts';
import type { ConnectionListener, ConnectionSettings, HandshakeFailure } from './peer-connection.ts';
import { PeerLink } from './peer-link.ts';
import { RedialPolicy, type RedialOptions } from './redial-policy.ts';
import { parseBindAddr, sourceHost, splitHostPort } from './socket-address.ts';
import { type DropReason, type PeerStats, TransportCounters, type TransportStats } from './transport-stats.ts';
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
  /** How frames after the handshake are protected; every member must use the same. Default aes-256-gmac (docs/transport.md). */
  frameCipher?: FrameCipherName;
  /** Receives rate-limited warnings about refused connections, frames and messages. */
  logger?: WarnLogger;
  /** At most one warning per peer (or source address) and kind in this window, ms. Default 10000. */
  logIntervalMs?: number;
  tls?: TransportTlsOptions;
  /** Called on every failed dial and lost connection (the node turns it into MsgUnreachable). */
  onUnreachable?: (peerId: number) => void;
  /** When peers that are not connected are dialed (redial-policy.ts). */
  redial?: RedialOptions;
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
  /** Time and timers (redials, handshake deadlines are the socket's own); the system clock by default. */
  clock?: Clock;
}

export type { DropReason, PeerStats, TransportStats } from './transport-stats.ts';

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
  private readonly redial: RedialPolicy;
  private readonly counters = new TransportCounters();
  private readonly sockets = new Set<PeerConnection>();
  /** Unauthenticated inbound connections, oldest first, with their source address. */
  private readonly pendingInbound = new Map<PeerConnection, string>();
  private readonly pendingBySource = new Map<string, number>();
  private readonly maxPendingPerAddress: number;
  /** Source addresses of the configured members: never subject to the per-address cap. */
  private memberHosts = new Set<string>();
  private readonly warnings: RateLimitedLog;
  private server: net.Server | undefined;
  private started = false;
  private stopped = false;
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
    this.clock = options.clock ?? systemClock;
    this.redial = new RedialPolicy(this.clock, options.redial);
    const maxSizePerMsg = requirePositive('maxSizePerMsg', options.maxSizePerMsg ?? 1024 * 1024);
    this.maxFrameSize = requirePositive('maxFrameSize', options.maxFrameSize ?? 2 * maxSizePerMsg + 64 * 1024);
    this.maxBufferedBytes = requirePositive('maxBufferedBytesPerPeer', options.maxBufferedBytesPerPeer ?? 2 * this.maxFrameSize);
    this.maxPendingHandshakes = requirePositive('maxPendingHandshakes', options.maxPendingHandshakes ?? 1024);
    this.maxPendingPerAddress = requirePositive('maxPendingHandshakesPerAddress', options.maxPendingHandshakesPerAddress ?? 16);
    this.warnings = new RateLimitedLog(options.logger, requirePositive('logIntervalMs', options.logIntervalMs ?? 10_000), () => this.clock.now());
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
    server.on('tlsClientError', () => this.counters.handshakeFailures.malformed++);
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
    for (const link of this.peers.values()) link.close();
    for (const conn of this.sockets) conn.destroy();
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
    const link = new PeerLink(nodeId, address);
    this.peers.set(nodeId, link);
    this.refreshMemberHosts();
    if (this.started && !this.stopped) this.attemptDial(link);
  }

  removePeer(nodeId: number): void {
    const link = this.peers.get(nodeId);
    if (!link) return;
    this.peers.delete(nodeId);
    link.close();
    this.refreshMemberHosts();
  }

  private refreshMemberHosts(): void {
    this.memberHosts = new Set([...this.peers.values()].map((l) => sourceHost(splitHostPort(canonicalAddress(l.address))[0])));
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
      this.counters.dropped[blocked] += msgs.length;
      if (blocked === 'notConnected') this.dialOnDemand(link!);
      return;
    }
    const conn = link!.active!;
    const bodies: Uint8Array[] = [];
    for (const msg of msgs) {
      const body = encodeMessage(msg);
      if (body.length > this.maxFrameSize) this.counters.dropped.tooLarge++;
      else bodies.push(body);
    }
    if (bodies.length === 0) return;
    const written = conn.writeFrames(bodies);
    this.counters.counts.bytesSent += written;
    this.counters.counts.sent += bodies.length;
    link!.bytesSent += written;
    link!.messagesSent += bodies.length;
  }

  private blockedReason(link: PeerLink): DropReason | undefined {
    if (!link.active) return 'notConnected';
    if (link.active.bufferedBytes > this.maxBufferedBytes) return 'backpressure';
    return undefined;
  }

  // ---- dialing -------------------------------------------------------------------------------

  /** Dial `link` now unless something already connects us (or is about to). */
  private attemptDial(link: PeerLink): void {
    if (this.stopped || this.peers.get(link.id) !== link) return;
    if (link.connections.size > 0 || link.dialing) return;
    link.stopRedial();
    this.dial(link);
  }

  /** A message for a peer that is not connected: dial it now, unless a dial started very recently. */
  private dialOnDemand(link: PeerLink): void {
    if (link.dialing || link.connections.size > 0 || !this.redial.mayDialOnDemand(link.lastDialAt)) return;
    this.attemptDial(link);
  }

  private dial(link: PeerLink): void {
    this.counters.counts.dialAttempts++;
    link.lastDialAt = this.redial.now();
    const [host, port] = splitHostPort(link.address);
    const socket = this.options.tls
      ? tls.connect({ ...this.options.tls.client, host, port })
      : net.connect({ host, port });
    const conn = new PeerConnection(socket, 'dialer', this.settings, this.listener, link.id, false);
    socket.once(this.options.tls ? 'secureConnect' : 'connect', () => conn.onConnected());
    link.dialing = conn;
    this.sockets.add(conn);
  }

  private scheduleRedial(link: PeerLink): void {
    if (this.stopped || link.cancelRedial || link.dialing) return;
    link.cancelRedial = this.redial.schedule(() => {
      link.cancelRedial = undefined;
      this.attemptDial(link);
    });
  }

  /** A dial failed or the last connection died: tell the node, and keep redialing. */
  private peerFailed(link: PeerLink): void {
    if (this.stopped || this.peers.get(link.id) !== link || link.connections.size > 0) return;
    this.options.onUnreachable?.(link.id);
    this.scheduleRedial(link);
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
    this.counters.counts.rejectedConnections++;
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
    this.counters.counts.evictedHandshakes++;
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
      this.counters.counts.invalidMessages++;
      this.warnings.warn(`invalid:${conn.peerId}`, 'refused an invalid message from a peer', { peer: conn.peerId, reason: err.message });
    },
    oversizedFrame: (conn: PeerConnection, err: FrameTooLargeError) => {
      this.counters.counts.oversizedFrames++;
      this.warnings.warn(`oversized:${conn.peerId}`, 'closed a peer connection: frame above the cap', { peer: conn.peerId, reason: err.message });
    },
    rejectedFrame: (conn: PeerConnection, err: InvalidMessageError) => {
      this.counters.counts.rejectedFrames++;
      this.warnings.warn(`rejected:${conn.peerId}`, 'closed a peer connection: a frame failed authentication; redialing', {
        peer: conn.peerId,
        reason: err.message,
      });
    },
    closed: (conn, failure) => this.onClosed(conn, failure),
  };

  private deliver(msg: Message, sender: PeerReport | undefined): void {
    this.counters.counts.received++;
    const link = this.peers.get(msg.from);
    if (link) link.messagesReceived++;
    try {
      this.handler(msg, sender);
    } catch {
      this.counters.counts.handlerErrors++;
    }
  }

  private onAuthenticated(conn: PeerConnection): void {
    this.forgetPending(conn);
    const link = this.peers.get(conn.peerId!);
    if (this.stopped || !link) {
      conn.destroy();
      return;
    }
    this.counters.counts.handshakes++;
    if (link.dialing === conn) link.dialing = undefined;
    const report = conn.peerReport;
    if (report) {
      try {
        this.options.identity?.onPeerReport?.(link.id, report);
      } catch {
        this.counters.counts.handlerErrors++;
      }
    }
    link.dropOtherRuns(conn);
    const wasDisconnected = link.connections.size === 0;
    link.connections.add(conn);
    link.chooseActive(this.nodeId);
    if (wasDisconnected) {
      if (link.everConnected) this.counters.counts.reconnects++;
      link.everConnected = true;
      link.stopRedial();
    }
  }

  private onClosed(conn: PeerConnection, failure: HandshakeFailure | undefined): void {
    this.sockets.delete(conn);
    const source = this.pendingInbound.get(conn);
    this.forgetPending(conn);
    if (failure) {
      this.counters.handshakeFailed(failure);
      if (!this.stopped && failure !== 'closed') {
        const from = source ?? this.peers.get(conn.peerId ?? 0)?.address ?? 'unknown';
        this.warnings.warn(`handshake:${from}:${failure}`, 'handshake failed', { from, reason: failure, peer: conn.peerId });
      }
    }
    const link = conn.peerId === undefined ? undefined : this.peers.get(conn.peerId);
    if (!link) return;
    if (link.dialing === conn) {
      link.dialing = undefined;
      this.counters.counts.dialFailures++;
      this.peerFailed(link);
      return;
    }
    if (!link.forget(conn)) return;
    if (link.active === conn) link.chooseActive(this.nodeId);
    if (link.connections.size === 0) this.peerFailed(link);
  }

  // ---- observability -------------------------------------------------------------------------

  stats(): TransportStats {
    const peers: Record<number, PeerStats> = {};
    for (const link of this.peers.values()) peers[link.id] = link.stats();
    return this.counters.snapshot(peers, this.sockets.size);
  }
}

function requireNodeId(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function requirePositive(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}
