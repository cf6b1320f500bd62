/**
 * The shapes of RaftNode's public API: its options, what `members()`, `status()` and `applied$`
 * give, and the seed's Node interface.
 */
import type { Observable } from 'rxjs';
import type { InspectionEvent, Observer } from 'xstate';
import type { Clock } from '../io/clock.ts';
import type { PinoLikeLogger } from '../io/json-logger.ts';
import type { Storage } from '../io/storage.ts';
import { ConfigError } from '../errors.ts';
import type { TransportTlsOptions } from '../io/tcp-transport.ts';
import { FRAME_CIPHERS, type FrameCipherName } from '../io/frame-cipher.ts';
import type { MessageHandler, Transport } from '../io/transport.ts';
import type { Ready } from '../raft/ready.ts';
import type { StateType } from '../raft/state-type.ts';
import type { Logger } from './logger.ts';
import type { ProposeResult } from './pending-requests.ts';

export type { Logger } from './logger.ts';
export type { AppliedEvent } from './host-loop.ts';

export interface NodeOptions {
  /**
   * Passed to XState's createActor: sees the role actor and every replicator. Takes what XState
   * takes: an observer (`@statelyai/inspect`'s `inspector.inspect`) or a function.
   */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /**
   * Where the node logs (silent without one). Either shape: `Logger` (`info(msg, fields)`) or a pino
   * logger (`info(fields, msg)`, recognized by pino's `levels.values`); every record carries
   * `member`, `term` and `event` (src/io/structured-logger.ts).
   */
  readonly logger?: Logger | PinoLikeLogger | undefined;
  /** Members of other clusters are refused by the transport and the data dir. Default 'actor-raft'. */
  readonly clusterId?: string | undefined;
  /**
   * Shared secret that authenticates members to each other and keys the frame cipher. Required for
   * a multi-node TCP cluster; at least 128 bits (`actor-raft secret` prints one). `undefined` is
   * accepted (so `process.env.RAFT_SECRET` can be passed as is) and means none.
   */
  readonly secret?: string | Uint8Array | undefined;
  /** TLS for the Raft connections (certificates, a CA), on top of the secret; see docs/transport.md. */
  readonly tls?: TransportTlsOptions | undefined;
  /**
   * How every frame after the handshake is protected (docs/transport.md, "Frame protection"):
   * `'aes-256-gmac'` (the default: authenticated, not encrypted), `'hmac-sha256'`,
   * `'chacha20-poly1305'` or `'aes-256-gcm'` (authenticated and encrypted), or `'none'`, allowed only
   * with `tls` (TLS then authenticates every record). Every member must use the same mode: the
   * handshake proof covers it, so members that differ never connect.
   */
  readonly frameCipher?: FrameCipherName | undefined;
  /** Address to listen on when it differs from this node's address in `peers` (the seed's SetBindAddr). */
  readonly listen?: string | undefined;
  /** Builds the transport instead of TCP (tests, custom networks). */
  readonly transport?: ((handler: MessageHandler, onUnreachable: (peer: number) => void) => Transport) | undefined;
  /** A Storage to use instead of DiskStorage(dataDir) / MemoryStorage. */
  readonly storage?: Storage | undefined;
  /** Manual mode: the application handles each Ready itself and calls `advance()` (etcd style). */
  readonly manual?: boolean | undefined;
  /** The clock of ticks, timers and per-turn flushes (default: the system clock). */
  readonly clock?: Clock | undefined;
  /**
   * Join an existing cluster instead of bootstrapping one: the node starts with no configuration
   * and waits for the leader (after `addNode` on the leader) to send it the log.
   */
  readonly join?: boolean | undefined;
  /**
   * What an empty data directory may do (docs/membership.md); a directory with Raft state ignores it.
   * - 'new' (default): found the cluster of `peers`, once a majority of them (counting this node)
   *   confirm over the handshake that they are empty too. A peer that already holds state and never
   *   heard of this directory means the cluster formed without it: it then joins (as with `join`).
   *   A peer that knows this node id by another directory makes start fail with BootstrapRefusedError.
   * - 'existing': never found a cluster; an empty directory is refused unless `join` is set.
   */
  readonly initialClusterState?: 'new' | 'existing';
  /**
   * Found at once, without asking the peers: the caller verified every founding member is new.
   * Only with `initialClusterState: 'new'`.
   */
  readonly bootstrapConfirmed?: boolean;
  /** `metrics$` emits a snapshot every this many ticks (default 10: once a second at 100 ms ticks). */
  readonly metricsIntervalTicks?: number | undefined;
}

/** Options of `start()`. */
export interface StartOptions {
  /**
   * Resolve only once a leader is known (as `waitForLeader()`), so the first `propose()` does not
   * meet "no leader is known". Default false: resolve as soon as storage, transport and clock run.
   */
  readonly waitForLeader?: boolean | undefined;
  /** Gives up waiting (rejects with the signal's reason); the node keeps running. */
  readonly signal?: AbortSignal | undefined;
}

/** One member of the cluster as `members()` lists it. */
export interface MemberInfo {
  readonly id: number;
  /** Raft address (`host:port`); null when this node has not learned it. */
  readonly address: string | null;
  readonly role: 'voter' | 'learner';
  /** Whether this node knows it as the leader. */
  readonly leader: boolean;
  /** Leader only: the highest log index known to be replicated on the member. */
  readonly match?: number;
}

/** The counterpart of raft.Status. */
export interface NodeStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly applied: number;
  readonly lead: number;
  readonly raftState: StateType;
  /** Leader only: what it knows of each follower. */
  readonly progress: Readonly<Record<number, { match: number; next: number; state: string; recentActive: boolean; inflight: number }>>;
  /** Circuit breaker state per peer, from the transport. */
  readonly circuits: Readonly<Record<number, string>>;
}

/** The seed's Node interface, with promises and Observables. */
export interface Node {
  start(opts?: StartOptions): Promise<void>;
  stop(): Promise<void>;
  propose(data: Uint8Array, opts?: { signal?: AbortSignal }): Promise<ProposeResult>;
  isLeader(): boolean;
  leader(): number;
  campaign(): Promise<void>;
  addNode(id: number, address: string, opts?: { learner?: boolean; signal?: AbortSignal }): Promise<ProposeResult>;
  removeNode(id: number, opts?: { signal?: AbortSignal }): Promise<ProposeResult>;
  readonly ready$: Observable<Ready>;
  advance(): void;
}

/** XState takes an observer or a function; the node actor takes the function. */
export function asInspectFunction(inspect: NodeOptions['inspect']): ((event: InspectionEvent) => void) | undefined {
  if (inspect === undefined || typeof inspect === 'function') return inspect;
  return (event) => inspect.next?.(event);
}


/**
 * A frame mode every member can use: one of FRAME_CIPHERS, and `'none'` only inside TLS (without
 * TLS nothing would authenticate a frame after the handshake: one forged frame could stall the
 * cluster, docs/transport.md).
 */
export function checkFrameCipher(mode: FrameCipherName | undefined, tls: boolean): void {
  if (mode === undefined) return;
  if (!FRAME_CIPHERS.includes(mode)) throw new ConfigError('frameCipher', `must be one of ${FRAME_CIPHERS.join(', ')}, got ${JSON.stringify(mode)}`);
  if (mode === 'none' && !tls) throw new ConfigError('frameCipher', "'none' leaves frames unauthenticated; it is allowed only with tls, which authenticates every record");
}
