/** `actor-raft/sim`: the deterministic simulation kit. See docs/testing.md. */
export { Simulation, type SimulationOptions, type SimNodeStatus, type AppliedEntry } from './simulation.ts';
export { type NetworkFaults, perfectNetwork, lossyNetwork } from './network-faults.ts';
export { SafetyChecker, SafetyViolation } from './safety.ts';
export { SimDisk } from './sim-disk.ts';
