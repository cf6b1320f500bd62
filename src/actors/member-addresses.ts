/**
 * The Raft addresses of the members, as this node learned them: from its configuration, from the
 * membership stored with its state, from applied membership changes (the address travels in the
 * change's context) and from snapshots sent by the leader. Stored with the conf state so a
 * restarted member can reach peers added after it was configured.
 */
import { isValidAddress } from '../config.ts';
import type { ConfState } from '../raft/raftpb.ts';

export class MemberAddresses {
  private readonly byId = new Map<number, string>();

  get(id: number): string | undefined {
    return this.byId.get(id);
  }

  /** Every known member and address. */
  entries(): [number, string][] {
    return [...this.byId];
  }

  /** Forgets everything and starts from the stored membership, then the configured peers (configured addresses win). */
  reset(stored: ConfState, configured: readonly { id: number; address: string }[]): void {
    this.byId.clear();
    for (const [id, address] of Object.entries(stored.addresses ?? {})) this.byId.set(Number(id), address);
    for (const p of configured) this.byId.set(p.id, p.address);
  }

  set(id: number, address: string): boolean {
    if (!isValidAddress(address)) return false;
    this.byId.set(id, address);
    return true;
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  /** The conf state with the addresses of its members, for storage and snapshots. */
  withAddresses(cs: ConfState): ConfState {
    const addresses: Record<number, string> = {};
    for (const id of [...cs.voters, ...cs.learners]) {
      const a = this.byId.get(id);
      if (a) addresses[id] = a;
    }
    return { voters: cs.voters, learners: cs.learners, addresses };
  }

  /** A snapshot from the leader names members this node may not have heard of: returns the new (id, address) pairs learned. */
  learn(cs: ConfState, self: number): [number, string][] {
    const learned: [number, string][] = [];
    for (const [id, address] of Object.entries(cs.addresses ?? {})) {
      const peer = Number(id);
      if (peer === self || !isValidAddress(address)) continue;
      this.byId.set(peer, address);
      learned.push([peer, address]);
    }
    return learned;
  }
}
