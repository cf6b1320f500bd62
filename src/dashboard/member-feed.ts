/**
 * What the dashboard shows of one member, as a stream: a view of the member (role, term, vote,
 * commit, applied, log, replicators, circuit breakers, commit counters) on every role change and
 * on every `metrics$` tick, and one record per role change with its cause.
 *
 * The cause of a role change is the event the role statechart was handling when it changed state:
 * the feed's `inspect` function, passed to `createNode` as the `inspect` option, sees the root
 * actor's snapshots (XState inspection) and names the event (a TICK that ran the election timer
 * out, a MsgVoteResp that completed a majority, a higher term in a MsgApp...) together with the
 * rule of the statechart that the step from one role to the other stands for (Raft §5.2, thesis
 * §6.2 CheckQuorum, §9.6 PreVote, §3.10 leadership transfer). Without it the feed still reports
 * role changes from `state$`, with the rule alone.
 */
import { Observable, Subject, type Subscription, auditTime, merge } from 'rxjs';
import type { InspectionEvent } from 'xstate';
import type { RaftNode } from '../actors/raft-node.ts';
import type { HistogramSnapshot } from '../metrics/histogram.ts';
import { type Message, type MessageType, messageTypeName } from '../raft/raftpb.ts';

/** One role change of one member. */
export interface RoleChange {
  readonly member: number;
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly term: number;
  /** The leader this member knew after the change (0: none). */
  readonly leader: number;
  /** Why, in words: the event and the rule of the statechart. */
  readonly cause: string;
}

/** One follower as the leader's replicator sees it. */
export interface ReplicatorView {
  readonly state: string;
  readonly match: number;
  readonly next: number;
  readonly inflight: number;
  readonly recentActive: boolean;
}

/** One member at one moment. */
export interface MemberView {
  readonly member: number;
  readonly at: number;
  readonly role: string;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly applied: number;
  readonly leader: number;
  /** Last log index, first index still in the log and the index the last snapshot covers (null when unknown). */
  readonly lastIndex: number | null;
  readonly firstIndex: number | null;
  readonly snapshotIndex: number | null;
  /** Leader only: one per follower. */
  readonly replicators: Readonly<Record<number, ReplicatorView>>;
  /** Circuit breaker per peer (`closed`, `open`, `halfOpen`), and whether a connection is up. */
  readonly peers: Readonly<Record<number, { readonly circuit: string; readonly connected: boolean }>>;
  readonly commits: number;
  readonly proposals: number;
  readonly elections: number;
  readonly leaderChanges: number;
  readonly commitLatencySeconds: HistogramSnapshot;
}

export type FeedMessage = { readonly type: 'view'; readonly view: MemberView } | { readonly type: 'role'; readonly change: RoleChange };

/** The parts of the role statechart's context read for the log figures (duck-typed: read only). */
interface RaftContextLike {
  readonly term?: unknown;
  readonly log?: { lastIndex?: () => number; firstIndex?: () => number };
}

/** Role changes kept for a page that connects later. */
const HISTORY = 100;

export class MemberFeed {
  private node: RaftNode<unknown> | undefined;
  private readonly changes = new Subject<RoleChange>();
  private readonly history: RoleChange[] = [];
  private lastRole: string | undefined;
  private lastTerm = 0;
  private raft: RaftContextLike | undefined;
  /** A role change seen by the inspector, waiting for the leader that `state$` reports with it. */
  private inspected = false;

  constructor(readonly member: number) {}

  /**
   * Pass as `createNode(..., { inspect: feed.inspect })`: reads the root role actor's snapshots
   * only (one comparison per inspection event otherwise).
   */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.snapshot' || ev.actorRef.sessionId !== ev.rootId) return;
    const snap = ev.snapshot as { value?: unknown; context?: { raft?: RaftContextLike } };
    if (typeof snap.value !== 'string') return;
    this.inspected = true;
    this.raft = snap.context?.raft;
    const term = typeof this.raft?.term === 'number' ? this.raft.term : this.lastTerm;
    const role = snap.value;
    // A candidate that times out campaigns again in a new term: a change of term is a new election.
    if (role === this.lastRole && !(role === 'candidate' && term > this.lastTerm)) {
      this.lastTerm = term;
      return;
    }
    const from = this.lastRole ?? 'start';
    this.lastRole = role;
    this.lastTerm = term;
    const event = ev.event as { type: string; msg?: Message };
    const change = { member: this.member, at: Date.now(), from, to: role, term, cause: causeOf(from, role, event, term) };
    // Inside the actor's step: hand the record out once the step (and its leader update) is over.
    queueMicrotask(() => this.record({ ...change, leader: this.leaderNow() }));
  };

  /** Starts following `node` (call after createNode, before or after start). */
  attach(node: RaftNode<unknown>): void {
    this.node = node;
  }

  /** Role changes so far (the last 100), oldest first. */
  recent(): readonly RoleChange[] {
    return this.history;
  }

  /**
   * The member's stream: a view at once (when running), then views on every role or leader
   * change and every metrics tick, and each role change as it happens.
   */
  updates(): Observable<FeedMessage> {
    const node = this.node;
    if (!node) throw new Error('MemberFeed.attach(node) was not called');
    return new Observable<FeedMessage>((subscriber) => {
      const emitView = () => {
        const view = this.view();
        if (view) subscriber.next({ type: 'view', view });
      };
      const subs: Subscription[] = [];
      subs.push(this.changes.subscribe((change) => subscriber.next({ type: 'role', change })));
      // A role change and a metrics tick often come together: one view for both.
      subs.push(merge(node.state$, node.metrics$).pipe(auditTime(50)).subscribe(() => emitView()));
      return () => subs.forEach((s) => s.unsubscribe());
    });
  }

  /** The member now; undefined while the node is stopped. */
  view(): MemberView | undefined {
    const node = this.node;
    if (!node) return undefined;
    let s;
    try {
      s = node.status();
    } catch {
      return undefined;
    }
    this.noteRoleFromStatus(s.raftState, s.term, s.lead);
    const m = node.metrics();
    const replicators: Record<number, ReplicatorView> = {};
    for (const [id, p] of Object.entries(s.progress)) {
      if (Number(id) !== s.id) replicators[Number(id)] = { state: p.state, match: p.match, next: p.next, inflight: p.inflight, recentActive: p.recentActive };
    }
    const peers: Record<number, { circuit: string; connected: boolean }> = {};
    for (const [id, circuit] of Object.entries(s.circuits)) peers[Number(id)] = { circuit, connected: m.peers[Number(id)]?.connected ?? false };
    const log = this.raft?.log;
    const lastIndex = typeof log?.lastIndex === 'function' ? log.lastIndex() : null;
    const firstIndex = typeof log?.firstIndex === 'function' ? log.firstIndex() : null;
    return {
      member: s.id,
      at: Date.now(),
      role: s.raftState,
      term: s.term,
      vote: s.vote,
      commit: s.commit,
      applied: s.applied,
      leader: s.lead,
      lastIndex,
      firstIndex,
      snapshotIndex: firstIndex === null ? null : firstIndex - 1,
      replicators,
      peers,
      commits: m.commits,
      proposals: m.proposals,
      elections: m.elections,
      leaderChanges: m.leaderChanges,
      commitLatencySeconds: m.commitLatencySeconds,
    };
  }

  /** Without an inspector, role changes are noticed here, from status(), with the rule alone. */
  private noteRoleFromStatus(role: string, term: number, leader: number): void {
    if (this.inspected || role === this.lastRole) return;
    const from = this.lastRole ?? 'start';
    this.lastRole = role;
    this.lastTerm = term;
    this.record({ member: this.member, at: Date.now(), from, to: role, term, leader, cause: ruleOf(from, role, undefined, term) || 'role changed' });
  }

  private leaderNow(): number {
    try {
      return this.node?.leader() ?? 0;
    } catch {
      return 0;
    }
  }

  private record(change: RoleChange): void {
    this.history.push(change);
    if (this.history.length > HISTORY) this.history.shift();
    this.changes.next(change);
  }
}

/** The event in words: `TICK`, `MsgVoteResp from 2 (term 5)`, `CAMPAIGN`... */
function eventText(event: { type: string; msg?: Message }): string {
  if (event.type === 'xstate.init') return 'start';
  const m = event.msg;
  if (!m) return event.type;
  return `${messageTypeName(m.type as MessageType)} from node ${m.from} (term ${m.term})`;
}

/** The rule of the role statechart a step stands for. */
function ruleOf(from: string, to: string, event: { type: string; msg?: Message } | undefined, term: number): string {
  // A message at our term or above: from a leader, or a term that ends this role (the RPC events
  // raised from MESSAGE carry the message too).
  const higherTerm = event?.msg !== undefined && event.msg.term >= term;
  const key = `${from}>${to}`;
  switch (key) {
    case 'start>follower':
      return 'started as a follower';
    case 'follower>preCandidate':
      return event?.type === 'CAMPAIGN' ? 'asked to campaign: pre-vote (thesis §9.6)' : 'election timeout, no word from a leader: pre-vote (thesis §9.6)';
    case 'follower>candidate':
      if (event?.msg && messageTypeName(event.msg.type as MessageType) === 'MsgTimeoutNow') return 'leadership transfer: the leader asked it to campaign now (thesis §3.10)';
      return event?.type === 'CAMPAIGN' ? 'asked to campaign: election (§5.2)' : 'election timeout, no word from a leader: election (§5.2)';
    case 'preCandidate>candidate':
      return 'a majority would vote for it: real election in a new term (§5.2)';
    case 'preCandidate>preCandidate':
    case 'candidate>candidate':
      return 'election timed out without a majority (split vote or peers down): trying again (§5.2)';
    case 'candidate>leader':
      return 'won the election: a majority voted for it (§5.2)';
    case 'preCandidate>follower':
    case 'candidate>follower':
      if (higherTerm) return 'heard a leader or a higher term: steps down (§5.1)';
      return event?.type === 'TICK' ? 'election timeout and no longer a voter' : 'lost the election (§5.2)';
    case 'leader>follower':
      if (higherTerm) return 'deposed: a higher term exists (§5.1)';
      if (event?.type === 'TICK') return 'CheckQuorum: no word from a majority for an election timeout (thesis §6.2)';
      if (event?.type === 'APPLY_CONF_CHANGE') return 'removed from the voters: steps down (thesis §4.2.2)';
      return 'stepped down';
    default:
      return '';
  }
}

function causeOf(from: string, to: string, event: { type: string; msg?: Message }, term: number): string {
  const rule = ruleOf(from, to, event, term);
  return rule ? `${eventText(event)}: ${rule}` : eventText(event);
}
