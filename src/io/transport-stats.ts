/**
 * What the TCP transport counts: messages and bytes each way, drops by reason, refused frames and
 * handshakes, dials and reconnects. Kept apart from the socket code so the transport reads as what
 * it does and the figures read as what they mean (docs/observability.md).
 */
import type { HandshakeFailure } from './peer-connection.ts';

export type DropReason = 'unknownPeer' | 'notConnected' | 'backpressure' | 'tooLarge' | 'stopped';

export interface PeerStats {
  readonly address: string;
  readonly connected: boolean;
  /** Authenticated connections currently usable for writing (1 in steady state). */
  readonly connections: number;
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

/** Handshake failures that mean the other side is not (or not proven to be) a member. */
const authProblems: ReadonlySet<HandshakeFailure> = new Set(['badProof', 'protocol', 'version', 'cluster', 'unknownPeer', 'wrongPeer', 'self']);

/** The transport-wide counters; per-peer figures live on each peer's link. */
export class TransportCounters {
  readonly counts = {
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
  readonly dropped: Record<DropReason, number> = { unknownPeer: 0, notConnected: 0, backpressure: 0, tooLarge: 0, stopped: 0 };
  readonly handshakeFailures: Record<HandshakeFailure, number> = {
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

  handshakeFailed(failure: HandshakeFailure): void {
    this.handshakeFailures[failure]++;
    if (authProblems.has(failure)) this.counts.authFailures++;
  }

  /** A copy of everything, with the per-peer figures and open sockets the transport adds. */
  snapshot(peers: Record<number, PeerStats>, openSockets: number): TransportStats {
    return { ...this.counts, dropped: { ...this.dropped }, handshakeFailures: { ...this.handshakeFailures }, openSockets, peers };
  }
}
