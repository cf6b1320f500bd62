/**
 * The figures of one member at one moment: what `RaftNode.metrics()` returns, what `metrics$`
 * emits, and what `GET /metrics` renders as Prometheus text. Plain data, safe to serialize.
 * docs/observability.md lists every field with its Prometheus name.
 */
import type { HistogramSnapshot } from './histogram.ts';

/** One peer as seen by this member's TCP transport. */
export interface PeerMetrics {
  readonly address: string;
  readonly connected: boolean;
  /** The peer's circuit breaker: `closed`, `open` or `halfOpen`. */
  readonly circuit: string;
  /** Raft messages written to this peer's socket. */
  readonly messagesSent: number;
  /** Frame bytes (length prefix and authentication included) written to this peer. */
  readonly bytesSent: number;
  /** Valid Raft messages received from this peer. */
  readonly messagesReceived: number;
  /** Bytes read from this peer's connections (handshakes included). */
  readonly bytesReceived: number;
}

export interface MetricsSnapshot {
  readonly nodeId: number;
  /** Milliseconds since the epoch when the snapshot was taken. */
  readonly takenAt: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  /** `propose()` calls accepted for submission on this member. */
  readonly proposals: number;
  /** Committed entries handed to this member for applying (every entry type). */
  readonly commits: number;
  /** Committed entries this member has applied. */
  readonly applies: number;
  /** Elections this member started (it became a candidate). */
  readonly elections: number;
  /** Times this member saw a new leader (a change from one known leader to another, or from none). */
  readonly leaderChanges: number;
  /** Snapshot transfers to followers started (first chunk queued). */
  readonly snapshotsSent: number;
  /** Snapshots received from a leader and installed. */
  readonly snapshotsReceived: number;
  /** Snapshots of the local state machine taken to compact the log. */
  readonly snapshotsTaken: number;
  /** Messages dropped before reaching a socket, by reason. */
  readonly messagesDropped: Readonly<Record<string, number>>;
  /** Frames from authenticated peers that did not decode to a valid message. */
  readonly invalidMessages: number;
  /** Sealed frames that failed authentication or were malformed (their connection was closed). */
  readonly rejectedFrames: number;
  /** Frames above the size cap (their connection was closed). */
  readonly oversizedFrames: number;
  /** `propose()` until the entry was applied here, in seconds; proposals made on this member only. */
  readonly commitLatencySeconds: HistogramSnapshot;
  /** One durable storage write (one `sync: true` batch), in seconds. */
  readonly fsyncSeconds: HistogramSnapshot;
  /** Log entries per durable storage write (group commit). */
  readonly fsyncBatchEntries: HistogramSnapshot;
  readonly peers: Readonly<Record<number, PeerMetrics>>;
}
