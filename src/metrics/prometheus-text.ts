/**
 * Renders a MetricsSnapshot in the Prometheus text exposition format, version 0.0.4: a `# HELP`
 * and `# TYPE` line per family, counters named `_total`, histograms as cumulative `_bucket{le}`
 * series ending at `+Inf`, then `_sum` and `_count`. Enumerations (role, circuit state) follow the
 * usual convention: one gauge series per possible value, 1 for the current one and 0 otherwise.
 */
import type { HistogramSnapshot } from './histogram.ts';
import type { MetricsSnapshot } from './metrics-snapshot.ts';

/** The `Content-Type` of the format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;
const CIRCUIT_STATES = ['closed', 'open', 'halfOpen'] as const;

type Labels = Readonly<Record<string, string | number>>;

class Writer {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, value: number, labels: Labels = {}): this {
    this.lines.push(`${name}${renderLabels(labels)} ${renderValue(value)}`);
    return this;
  }

  histogram(name: string, h: HistogramSnapshot): this {
    for (const b of h.buckets) this.sample(`${name}_bucket`, b.count, { le: b.le === Infinity ? '+Inf' : String(b.le) });
    return this.sample(`${name}_sum`, h.sum).sample(`${name}_count`, h.count);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function renderValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

export function formatPrometheus(m: MetricsSnapshot): string {
  const w = new Writer();
  const counter = (name: string, help: string, value: number) => w.family(name, 'counter', help).sample(name, value);
  const gauge = (name: string, help: string, value: number) => w.family(name, 'gauge', help).sample(name, value);

  counter('raft_proposals_total', 'Proposals submitted on this member (propose() calls).', m.proposals);
  counter('raft_commits_total', 'Committed log entries handed to this member for applying.', m.commits);
  counter('raft_applies_total', 'Committed log entries this member applied.', m.applies);
  counter('raft_elections_total', 'Elections this member started (became a candidate).', m.elections);
  counter('raft_leader_changes_total', 'Times this member saw a new leader.', m.leaderChanges);
  counter('raft_snapshots_sent_total', 'Snapshot transfers to followers started (first MsgSnap chunk).', m.snapshotsSent);
  counter('raft_snapshots_received_total', 'Snapshots received from a leader and installed.', m.snapshotsReceived);
  counter('raft_snapshots_taken_total', 'Snapshots of the local state machine taken to compact the log.', m.snapshotsTaken);
  w.family('raft_messages_dropped_total', 'counter', 'Raft messages dropped before reaching a socket, by reason.');
  for (const reason of Object.keys(m.messagesDropped).sort()) w.sample('raft_messages_dropped_total', m.messagesDropped[reason]!, { reason });
  counter('raft_invalid_messages_total', 'Frames from authenticated peers that did not decode to a valid message.', m.invalidMessages);
  counter('raft_rejected_frames_total', 'Sealed frames that failed authentication or were malformed (the connection was closed).', m.rejectedFrames);
  counter('raft_oversized_frames_total', 'Frames above the size cap (the connection was closed).', m.oversizedFrames);

  w.family('raft_commit_latency_seconds', 'histogram', 'From propose() to the entry applied on this member, for proposals made here.').histogram('raft_commit_latency_seconds', m.commitLatencySeconds);
  w.family('raft_fsync_duration_seconds', 'histogram', 'Duration of one durable storage write (one sync batch).').histogram('raft_fsync_duration_seconds', m.fsyncSeconds);
  w.family('raft_fsync_batch_entries', 'histogram', 'Log entries per durable storage write (group commit).').histogram('raft_fsync_batch_entries', m.fsyncBatchEntries);

  const peerIds = Object.keys(m.peers).map(Number).sort((a, b) => a - b);
  const perPeer = (name: string, type: 'counter' | 'gauge', help: string, value: (id: number) => number) => {
    w.family(name, type, help);
    for (const id of peerIds) w.sample(name, value(id), { peer: id });
  };
  perPeer('raft_peer_sent_bytes_total', 'counter', 'Frame bytes written to the peer.', (id) => m.peers[id]!.bytesSent);
  perPeer('raft_peer_received_bytes_total', 'counter', 'Bytes read from the peer (handshakes included).', (id) => m.peers[id]!.bytesReceived);
  perPeer('raft_peer_sent_messages_total', 'counter', 'Raft messages written to the peer.', (id) => m.peers[id]!.messagesSent);
  perPeer('raft_peer_received_messages_total', 'counter', 'Valid Raft messages received from the peer.', (id) => m.peers[id]!.messagesReceived);
  perPeer('raft_peer_connected', 'gauge', '1 while an authenticated connection to the peer is open.', (id) => (m.peers[id]!.connected ? 1 : 0));
  w.family('raft_peer_circuit_state', 'gauge', "The peer's circuit breaker: 1 for its current state, 0 for the others.");
  for (const id of peerIds) for (const state of CIRCUIT_STATES) w.sample('raft_peer_circuit_state', m.peers[id]!.circuit === state ? 1 : 0, { peer: id, state });

  gauge('raft_term', 'Current term.', m.term);
  gauge('raft_leader_id', 'Id of the leader this member knows, 0 when none.', m.leader);
  gauge('raft_commit_index', 'Highest log index known to be committed.', m.commitIndex);
  gauge('raft_applied_index', 'Highest log index applied to the state machine.', m.appliedIndex);
  w.family('raft_role', 'gauge', "This member's role: 1 for the current one, 0 for the others.");
  for (const role of ROLES) w.sample('raft_role', m.role === role ? 1 : 0, { role });
  return w.text();
}
