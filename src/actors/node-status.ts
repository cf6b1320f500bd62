/**
 * What `status()` and `metrics()` of a RaftNode report, read from the running pieces: the node
 * actor's Raft state, the transport actor's and the TCP transport's counters, and the counters the
 * host loop keeps (NodeMetrics).
 */
import type { MetricsSnapshot, PeerMetrics } from '../metrics/metrics-snapshot.ts';
import type { NodeMetrics } from '../metrics/node-metrics.ts';
import type { TransportStats } from '../io/tcp-transport.ts';
import { StateType } from '../raft/state-type.ts';
import type { NodeActor } from './node-actor.ts';
import type { NodeStatus } from './node-options.ts';
import type { TransportActorStats } from './transport-actor.ts';

/** The counterpart of raft.Status: the Raft state, and the leader's view of its followers. */
export function nodeStatus(id: number, node: NodeActor, circuits: Record<number, string>): NodeStatus {
  const r = node.raft;
  const progress: Record<number, NodeStatus['progress'][number]> = {};
  for (const [peer, pr] of node.progress()) progress[peer] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflight };
  return { id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied, lead: r.lead, raftState: node.stateType(), progress, circuits };
}

export interface MetricsSources {
  readonly nodeId: number;
  readonly node: NodeActor | undefined;
  readonly counters: NodeMetrics;
  readonly appliedIndex: number;
  readonly transportActor: TransportActorStats | undefined;
  readonly tcp: TransportStats | undefined;
}

/** One snapshot of a member's figures (docs/observability.md lists them). */
export function metricsSnapshot(s: MetricsSources): MetricsSnapshot {
  const c = s.counters;
  const r = s.node?.raft;
  const ta = s.transportActor;
  const tcp = s.tcp;
  const peers: Record<number, PeerMetrics> = {};
  if (tcp) {
    for (const [id, p] of Object.entries(tcp.peers)) {
      peers[Number(id)] = { address: p.address, connected: p.connected, circuit: s.node?.circuitState(Number(id)) ?? 'closed', messagesSent: p.messagesSent, bytesSent: p.bytesSent, messagesReceived: p.messagesReceived, bytesReceived: p.bytesReceived };
    }
  }
  return {
    nodeId: s.nodeId,
    takenAt: Date.now(),
    role: s.node ? s.node.stateType() : StateType.Follower,
    term: r?.term ?? 0,
    leader: r?.lead ?? 0,
    commitIndex: r?.log.committed ?? 0,
    appliedIndex: s.appliedIndex,
    proposals: c.proposals,
    commits: c.commits,
    applies: c.applies,
    elections: c.elections,
    leaderChanges: c.leaderChanges,
    snapshotsSent: ta?.snapshotsSent ?? 0,
    snapshotsReceived: c.snapshotsReceived,
    snapshotsTaken: c.snapshotsTaken,
    messagesDropped: {
      queueFull: ta?.droppedQueueFull ?? 0,
      ...(tcp ? tcp.dropped : {}),
      stopped: (ta?.droppedStopped ?? 0) + (tcp?.dropped.stopped ?? 0),
    },
    invalidMessages: tcp?.invalidMessages ?? 0,
    rejectedFrames: tcp?.rejectedFrames ?? 0,
    oversizedFrames: tcp?.oversizedFrames ?? 0,
    commitLatencySeconds: c.commitLatencySeconds.snapshot(),
    fsyncSeconds: c.fsyncSeconds.snapshot(),
    fsyncBatchEntries: c.fsyncBatchEntries.snapshot(),
    peers,
  };
}
