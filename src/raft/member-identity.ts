/**
 * Member identity: which data directory stands behind a node id.
 *
 * Raft's safety argument assumes a server never forgets what it persisted (Figure 2: currentTerm,
 * votedFor and log[] are "updated on stable storage before responding to RPCs"). A member whose
 * disk was wiped and that comes back under its old node id breaks that assumption: it can vote a
 * second time in a term, and its missing log no longer counts towards the majorities that
 * committed entries with its help. So every data directory gets a random *incarnation* when it is
 * created, each member presents it to its peers, and a peer refuses a node id that shows up with
 * another incarnation than the one it recorded.
 *
 * This module is the pure part: what a member has recorded about its peers, and the two decisions
 * built on it (accept / learn / refuse a message's sender; bootstrap / wait / refuse an empty
 * directory). The node actor applies them; hosts only tell it who sent what.
 */

/** A peer's incarnation as this member recorded it. */
export interface PeerIncarnation {
  /** The peer's data-directory incarnation, hex. */
  readonly incarnation: string;
  /**
   * The applied index when it was learned. A RemoveNode of the peer committed above it makes the
   * record void (the id may then come back with a new directory); one at or below it was applied
   * before the record existed and is only being replayed after a restart.
   */
  readonly since: number;
}

/** Every peer incarnation a member recorded, by node id. */
export type PeerIncarnations = Readonly<Record<number, PeerIncarnation>>;

/** What the host knows of the sender of a message (TCP: from the handshake; simulation: its disk). */
export interface SenderIdentity {
  /** The sender's data-directory incarnation, hex. */
  readonly incarnation: string;
  /** The incarnation the sender has recorded for *us*, if any. */
  readonly knowsYouAs?: string;
}

/** What a member tells a peer before it is part of a cluster (in the hello, or the simulation's view). */
export interface PeerReport extends SenderIdentity {
  /** The peer's directory holds no Raft state yet: no term, no vote, no entries. */
  readonly pristine: boolean;
}

/** Bytes of randomness in an incarnation. */
export const INCARNATION_BYTES = 16;

const HEX = /^[0-9a-f]{32}$/;

export function isIncarnation(v: unknown): v is string {
  return typeof v === 'string' && HEX.test(v);
}

export type SenderVerdict =
  /** Known under this incarnation: the message counts. */
  | { readonly kind: 'accept' }
  /** First contact: record the incarnation durably before anything from the sender counts. */
  | { readonly kind: 'learn' }
  /** The record is being written; the sender counts once it is durable. */
  | { readonly kind: 'wait' }
  /** The sender presents another directory than the one recorded for its id. */
  | { readonly kind: 'refuse'; readonly recorded: string }
  /** The sender knows *this* node id by another directory: this node is the stranger. */
  | { readonly kind: 'strangerHere'; readonly knownAs: string };

/**
 * The incarnations a member has recorded for its peers, the durable ones and the ones being
 * written. A message counts only when its sender's incarnation is durably recorded, so a vote or
 * an acknowledgement is never counted from an identity a restart could make this member forget.
 */
export class PeerIdentities {
  private readonly durable = new Map<number, PeerIncarnation>();
  private readonly unwritten = new Map<number, PeerIncarnation>();
  private readonly writing = new Map<number, PeerIncarnation>();
  private changed = false;

  constructor(
    /** This member's own incarnation. */
    readonly self: string,
    recorded: PeerIncarnations = {},
  ) {
    for (const [id, rec] of Object.entries(recorded)) this.durable.set(Number(id), rec);
  }

  /** The incarnation recorded (or being recorded) for `id`. */
  known(id: number): string | undefined {
    return (this.unwritten.get(id) ?? this.writing.get(id) ?? this.durable.get(id))?.incarnation;
  }

  /** What to do with a message from `from` that presents `sender`. */
  verdict(from: number, sender: SenderIdentity): SenderVerdict {
    if (sender.knowsYouAs !== undefined && sender.knowsYouAs !== this.self) return { kind: 'strangerHere', knownAs: sender.knowsYouAs };
    const durable = this.durable.get(from);
    if (durable) return durable.incarnation === sender.incarnation ? { kind: 'accept' } : { kind: 'refuse', recorded: durable.incarnation };
    const pending = this.unwritten.get(from) ?? this.writing.get(from);
    if (pending) return pending.incarnation === sender.incarnation ? { kind: 'wait' } : { kind: 'refuse', recorded: pending.incarnation };
    return { kind: 'learn' };
  }

  /** Records a first contact (written with the next Ready). */
  learn(from: number, incarnation: string, appliedIndex: number): void {
    this.unwritten.set(from, { incarnation, since: appliedIndex });
    this.changed = true;
  }

  /**
   * A RemoveNode of `id` committed at `index` was applied: the id's old directory is no longer a
   * member, so whichever directory comes next under that id (after an AddNode) is learned anew.
   */
  removed(id: number, index: number): void {
    for (const m of [this.durable, this.writing, this.unwritten]) {
      const rec = m.get(id);
      if (rec && index > rec.since) {
        m.delete(id);
        this.changed = true;
      }
    }
  }

  /** Whether the record changed since it was last handed out for writing. */
  hasUnwritten(): boolean {
    return this.changed;
  }

  /** The full record to write now; what it adds becomes durable with `written()`. */
  takeUnwritten(): { record: PeerIncarnations; added: [number, PeerIncarnation][] } {
    const added = [...this.unwritten];
    for (const [id, rec] of added) this.writing.set(id, rec);
    this.unwritten.clear();
    this.changed = false;
    return { record: this.snapshot(), added };
  }

  /** A write handed out by `takeUnwritten` is durable. */
  written(added: readonly [number, PeerIncarnation][]): void {
    for (const [id, rec] of added) {
      if (this.writing.get(id) === rec) {
        this.writing.delete(id);
        this.durable.set(id, rec);
      }
    }
  }

  /** Everything recorded, durable or not (what the next write stores). */
  snapshot(): PeerIncarnations {
    const out: Record<number, PeerIncarnation> = {};
    for (const m of [this.durable, this.writing, this.unwritten]) for (const [id, rec] of m) out[id] = rec;
    return out;
  }
}

export type BootstrapDecision =
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'wait'; readonly confirmed: readonly number[] }
  | { readonly kind: 'refuse'; readonly peer: number; readonly reason: 'alreadyFormed' | 'knownAsOther'; readonly knownAs?: string };

/**
 * May an empty directory found a cluster? Only when a majority of the founding members (counting
 * this one) confirm it: a peer confirms when it is empty too, or when it already recorded this
 * very directory (the two met before either of them bootstrapped). A peer that holds Raft state
 * and does not know this directory refuses: the cluster was formed without it (it must `--join`),
 * or it knew this node id by another directory (it lost its disk and must be replaced).
 */
export function bootstrapDecision(selfId: number, self: string, founders: readonly number[], reports: ReadonlyMap<number, PeerReport>): BootstrapDecision {
  const confirmed = [selfId];
  for (const id of founders) {
    if (id === selfId) continue;
    const r = reports.get(id);
    if (!r) continue;
    if (r.knowsYouAs !== undefined && r.knowsYouAs !== self) return { kind: 'refuse', peer: id, reason: 'knownAsOther', knownAs: r.knowsYouAs };
    if (r.pristine || r.knowsYouAs === self) confirmed.push(id);
    else return { kind: 'refuse', peer: id, reason: 'alreadyFormed' };
  }
  return confirmed.length > Math.floor(founders.length / 2) ? { kind: 'bootstrap' } : { kind: 'wait', confirmed };
}

/** The one line both sides log when a node id comes back with another data directory. */
export function replaceAdvice(id: number): string {
  return `replace it: \`actor-raft member remove ${id}\`, then \`actor-raft member add ${id} <host:port>\` and start it with \`--join\` on an empty data directory`;
}
