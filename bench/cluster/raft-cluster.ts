/**
 * The parent's handle on a durable 3-process cluster of raft-member.ts processes: start, find the
 * leader, run a load in the leader's process, kill and restart members on their data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BenchChild, freePort } from './ipc.ts';
import type { RaftMemberArgs } from './raft-member.ts';
import type { LoadRequest, LoadResult } from './load.ts';

const memberScript = fileURLToPath(new URL('./raft-member.ts', import.meta.url));

export interface MemberStatus {
  id: number;
  term: number;
  lead: number;
  leader: boolean;
  commit: number;
  applied: number;
  match: number[];
}

export class RaftCluster {
  readonly root: string;
  readonly members = new Map<number, BenchChild>();
  private readonly secret = randomBytes(32).toString('hex');
  private peers: { id: number; address: string }[] = [];
  private started = new Set<number>();

  constructor(
    readonly size: number,
    readonly opts: { tickInterval?: number; announceLeadership?: boolean; execArgv?: (id: number) => string[] } = {},
  ) {
    this.root = mkdtempSync(join(process.env.BENCH_DATA_DIR ?? tmpdir(), 'actor-raft-bench-'));
  }

  async start(timeoutMs = 30_000): Promise<number> {
    for (let id = 1; id <= this.size; id++) this.peers.push({ id, address: `127.0.0.1:${await freePort()}` });
    for (let id = 1; id <= this.size; id++) this.spawn(id);
    await Promise.all([...this.members.values()].map((m) => m.waitEvent('started', timeoutMs)));
    return this.waitForLeader(timeoutMs);
  }

  /** Starts member `id` (again, on its data when it ran before). */
  spawn(id: number, extra: Partial<RaftMemberArgs> = {}): BenchChild {
    const args: RaftMemberArgs = {
      id,
      peers: this.peers,
      dataDir: join(this.root, String(id)),
      secret: this.secret,
      tickInterval: this.opts.tickInterval ?? 100,
      fresh: !this.started.has(id),
      announceLeadership: this.opts.announceLeadership ?? false,
      ...extra,
    };
    this.started.add(id);
    const child = new BenchChild(memberScript, [JSON.stringify(args)], { execArgv: this.opts.execArgv?.(id) ?? [] });
    this.members.set(id, child);
    return child;
  }

  async statuses(): Promise<MemberStatus[]> {
    const live = [...this.members.values()].filter((m) => m.alive);
    const all = await Promise.allSettled(live.map((m) => m.request<MemberStatus>('status', {}, 5000)));
    return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** The id of a member that says it leads, polling until one does. */
  async waitForLeader(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = (await this.statuses()).find((s) => s.leader);
      if (leader) return leader.id;
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits until the leader reports every follower's match at its commit, and all applied it. */
  async waitForAllCaughtUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.statuses();
      const leader = st.find((s) => s.leader);
      if (leader && st.length === this.size && leader.match.length === this.size && leader.match.every((m) => m >= leader.commit) && st.every((s) => s.applied >= leader.commit)) return;
      if (Date.now() > deadline) throw new Error(`members did not catch up within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async load(req: LoadRequest): Promise<LoadResult> {
    const id = await this.waitForLeader();
    return this.members.get(id)!.request<LoadResult>('load', req as unknown as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
