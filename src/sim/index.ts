/** `actor-raft/sim`: the deterministic simulation kit. See docs/testing.md. */
export { Simulation, type SimulationOptions, type SimNodeStatus, type AppliedEntry, type SimCounters } from './simulation.ts';
export { type NetworkFaults, perfectNetwork, lossyNetwork } from './network-faults.ts';
export { SafetyChecker, SafetyViolation } from './safety.ts';
export { SimDisk, type DiskScheduler } from './sim-disk.ts';
export { SimNetwork, SimTransport } from './sim-network.ts';
export { VirtualClock } from './virtual-clock.ts';
export { onMessages, matches, type MessageHook, type MessageFate, type MessageMatch } from './message-hooks.ts';
export {
  checkLinearizable,
  describeOperation,
  InvalidHistoryError,
  type Operation,
  type Model,
  type CheckOptions,
  type CheckResult,
  type Explanation,
} from './linearizability.ts';
export { registerModel, kvModel, type RegisterInput, type RegisterOutput, type KvInput, type KvOutput, type KvState } from './linearizability-models.ts';
export { KvClientDriver, SimKvStateMachine, runHistorySchedule, HistoryViolation, type KvClientOptions, type HistoryScheduleOptions, type HistoryScheduleResult } from './kv-client-driver.ts';
export { SimulationError } from './simulation-error.ts';
export { ScheduleFailure, replayCommand } from './schedule-failure.ts';
