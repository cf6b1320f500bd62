/**
 * The public `Backoff` (the Go package's type of the same name) for embedders that pace their own
 * retries in milliseconds. The schedule itself is pure and lives in src/raft/backoff.ts, where the
 * leader's replicators run it on ticks.
 */
export { Backoff, newBackoff, defaultBackoffOptions, type BackoffOptions, type RandomSource } from '../raft/backoff.ts';
