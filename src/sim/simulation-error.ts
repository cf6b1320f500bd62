/**
 * An exception thrown inside a simulation step that is not itself a finding of the safety checker
 * (a TypeError in a node, a failed assertion in a state machine): it is re-thrown with the seed and
 * step that reproduce it, so that no failure of a seeded run is reported without its seed.
 */
export class SimulationError extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    cause: unknown,
  ) {
    super(`${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)} (seed ${seed}, step ${step})`, { cause });
    this.name = 'SimulationError';
  }
}
