/**
 * What the simulated network does to messages. All delays are in virtual milliseconds.
 */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delivery delay range [min, max] in ms. */
  delay: readonly [number, number];
  /** When false, each link delivers in order (FIFO, like TCP); when true, delays are independent. */
  reorder: boolean;
  /**
   * Whether a sender hears that a peer is down or cut off (as TCP reports a failed dial), which
   * drives the leader's circuit breaker for that peer. Default true; false replays seeds recorded
   * before the simulated network reported it.
   */
  reportUnreachable?: boolean;
}

export const perfectNetwork: NetworkFaults = Object.freeze({ dropRate: 0, duplicateRate: 0, delay: [1, 1] as const, reorder: false });

export const lossyNetwork: NetworkFaults = Object.freeze({ dropRate: 0.1, duplicateRate: 0.05, delay: [1, 30] as const, reorder: true });
