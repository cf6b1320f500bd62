/**
 * actor-raft: Raft consensus for Node.js, as XState statecharts and RxJS actors.
 * The public API only: re-exports, no logic. What a custom host or a test drives directly (the
 * actors, the machines) is under `actor-raft/internals` (src/internals.ts).
 */
export { createNode, RaftNode, type Node, type NodeOptions, type StartOptions, type NodeStatus, type AppliedEvent, type Logger, type MemberInfo } from './actors/raft-node.ts';
export type { ProposeResult } from './actors/pending-requests.ts';
export type { MetricsSnapshot, PeerMetrics } from './metrics/metrics-snapshot.ts';
export type { HistogramSnapshot } from './metrics/histogram.ts';
export { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from './metrics/prometheus-text.ts';
export { jsonLogger, prettyLine, LOG_LEVEL_VALUES, type JsonLogger, type JsonLoggerOptions, type LogLevelName, type PinoLikeLogger } from './io/json-logger.ts';
export { structuredLogger, isPinoLike, eventName, type LogContext, type MessageFirstLogger } from './io/structured-logger.ts';
// The seed's retry primitives, as plain classes an embedder can use on its own calls; inside the
// node each replicator runs its peer's Backoff and circuit breaker on ticks (docs/architecture.md).
export { Backoff, newBackoff } from './io/backoff.ts';
export { CircuitBreaker, CircuitState, newCircuitBreaker, type CircuitBreakerOptions } from './io/circuit-breaker.ts';
export { type Config, type Peer, type ReadOnlyOption, defaultConfig, resolveConfig, validateConfig } from './config.ts';
export * from './errors.ts';
export type { StateMachine } from './state-machine.ts';
export { type Storage, type StorageWrite, type InitialState } from './io/storage.ts';
export { MemoryStorage } from './io/memory-storage.ts';
export { DiskStorage } from './io/disk-storage.ts';
export { type Transport, type MessageHandler } from './io/transport.ts';
export { type Clock, type Cancel, systemClock } from './io/clock.ts';
export { BidirectionalTransport } from './io/tcp-transport.ts';
export type { FrameCipherName } from './io/frame-cipher.ts';
export * from './raft/raftpb.ts';
export { StateType, type SoftState } from './raft/state-type.ts';
export { type Ready, isReadyEmpty } from './raft/ready.ts';
export type { ReadState } from './raft/read-only.ts';
