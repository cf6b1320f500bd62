/** The parent's handle on the floor's three processes (floor-member.ts). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchChild, freePort } from './ipc.ts';
import type { FloorMemberArgs } from './floor-member.ts';
import type { LoadRequest, LoadResult } from './load.ts';

const memberScript = fileURLToPath(new URL('./floor-member.ts', import.meta.url));

export class FloorCluster {
  private readonly root = mkdtempSync(join(process.env.BENCH_DATA_DIR ?? tmpdir(), 'actor-raft-floor-'));
  private readonly children: BenchChild[] = [];
  private leader: BenchChild | undefined;

  async start(): Promise<void> {
    const ports = [await freePort(), await freePort()];
    const spawn = (a: FloorMemberArgs): BenchChild => {
      const c = new BenchChild(memberScript, [JSON.stringify(a)]);
      this.children.push(c);
      return c;
    };
    const followers = ports.map((port, i) => spawn({ role: 'follower', dataDir: join(this.root, `f${i}`), port }));
    await Promise.all(followers.map((f) => f.waitEvent('started', 30_000)));
    this.leader = spawn({ role: 'leader', dataDir: join(this.root, 'leader'), followers: ports });
    await this.leader.waitEvent('started', 30_000);
  }

  load(req: LoadRequest): Promise<LoadResult> {
    return this.leader!.request<LoadResult>('load', req as unknown as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
