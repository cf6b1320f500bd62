/**
 * The counters a node keeps itself, as plain fields and fixed histograms: every increment is a
 * field write where the event already happens (per Ready, per batch, per settled proposal), never
 * per entry and never an allocation. Figures that other parts already count (the transport's
 * drops and bytes, the storage actor's writes) are not copied here: they are read when a snapshot
 * is taken.
 */
import { BATCH_SIZE_BUCKETS, Histogram, LATENCY_BUCKETS_SECONDS } from './histogram.ts';

export class NodeMetrics {
  proposals = 0;
  commits = 0;
  applies = 0;
  elections = 0;
  leaderChanges = 0;
  snapshotsReceived = 0;
  snapshotsTaken = 0;
  readonly commitLatencySeconds = new Histogram(LATENCY_BUCKETS_SECONDS);
  readonly fsyncSeconds = new Histogram(LATENCY_BUCKETS_SECONDS);
  readonly fsyncBatchEntries = new Histogram(BATCH_SIZE_BUCKETS);

  /** A storage write finished: its duration and how many entries it carried. */
  readonly recordWrite = (entries: number, seconds: number): void => {
    this.fsyncSeconds.observe(seconds);
    this.fsyncBatchEntries.observe(entries);
  };

  /** A proposal made on this member was applied `seconds` after `propose()`. */
  readonly recordProposalApplied = (seconds: number): void => {
    this.commitLatencySeconds.observe(seconds);
  };
}
