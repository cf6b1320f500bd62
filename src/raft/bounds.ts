/**
 * The largest term, log index and size this implementation accepts: 2^48.
 *
 * Why a bound far below 2^53: a term or index near `Number.MAX_SAFE_INTEGER` cannot be incremented
 * exactly, and one forged or buggy message carrying such a term would make every member adopt it
 * and then fail to campaign past it. 2^48 is out of reach of an honest cluster (a thousand
 * elections a second would take 8,900 years to get there; a million entries a second, 8.9 years)
 * and leaves 32× headroom below 2^53, so `bound + 1` and the sum of two bounded values stay exact.
 *
 * Messages carrying a larger term, index, commit or hint are invalid at validation (and refused,
 * logged and counted by the transport); the core refuses to raise its own term past it.
 */
export const MAX_RAFT_NUMBER = 2 ** 48;

/** True when `n` is an integer in [0, MAX_RAFT_NUMBER]. */
export function isBoundedCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_RAFT_NUMBER;
}
