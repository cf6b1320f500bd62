/**
 * `actor-raft/internals`: the parts a custom host or a test drives directly, kept out of the public
 * API (src/index.ts) because they change with the design: the actors that host the machines, the
 * machines themselves, and the transport's retry policy.
 */
export { NodeActor, type NodeActorOptions } from './actors/node-actor.ts';
export { StorageActor } from './actors/storage-actor.ts';
export { TransportActor } from './actors/transport-actor.ts';
export { roleMachine } from './machines/role.machine.ts';
export { replicatorMachine } from './machines/replicator.machine.ts';
export { circuitBreakerMachine } from './machines/circuit-breaker.machine.ts';
export { Backoff, newBackoff } from './io/backoff.ts';
export { CircuitBreaker, CircuitState, newCircuitBreaker, type CircuitBreakerOptions } from './io/circuit-breaker.ts';
export { RaftState } from './raft/raft-state.ts';
export { MemoryLog } from './raft/memory-log.ts';
export { DashboardRoutes, MAX_BURST, type DashboardOptions, type RunnerAnswer, type RunnerRequest } from './dashboard/dashboard-routes.ts';
export { MemberFeed, type FeedMessage, type MemberView, type ReplicatorView, type RoleChange } from './dashboard/member-feed.ts';
export { machineGraph, type MachineEdge, type MachineGraph } from './dashboard/machine-graph.ts';
