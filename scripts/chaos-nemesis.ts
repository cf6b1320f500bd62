/**
 * The chaos runner's nemesis: a seeded sequence of faults, one at a time (apply, hold, heal, a
 * short rest), so every fault's effect is visible on its own and the cluster is never asked to
 * survive more than it promises (a majority up and connected once a fault heals).
 *
 * Kinds: kill (SIGKILL one member, restart it), kill-all (SIGKILL every member at once, restart
 * them), pause (SIGSTOP, later SIGCONT; the leader half the time), partition-halves (random
 * halves), partition-leader (the leader alone), partition-ring (each member connected only to its
 * two neighbours on a ring: every member sees a majority, no two majorities agree), membership
 * (remove a voter, wipe it, add it back as a learner started with --join, promote it once it
 * caught up), wipe (SIGKILL a follower, delete its data, start it again under its old id: it must
 * be refused; then replace it by the documented procedure: remove, add as a learner, --join,
 * promote; needs member identity in the CLI), transfer-leader (the leader hands its role to a
 * random voter through `POST /members/:id/transfer-leadership`), disk-full (fill a member's disk to
 * the last byte: its writes fail and it must stop without acknowledging anything it did not
 * persist; then free the disk and restart it), disk-fail (the member's block device starts failing
 * writes, so the kernel answers EIO: the member must stop, saying which directory failed; then the
 * disk is checked with e2fsck and mounted again, and the member restarted on what it had synced —
 * or, if it refuses that data, replaced). The disk faults need each data directory on a disk of its
 * own (chaos-disk.ts), which the runner makes when it runs as root.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/raft/rng.ts';
import { CLI_HAS_IDENTITY, type ChaosCluster, type ChaosMember, sleep } from './chaos-cluster.ts';

export const FAULT_KINDS = ['kill', 'kill-all', 'pause', 'partition-halves', 'partition-leader', 'partition-ring', 'membership', 'wipe', 'transfer-leader', 'disk-full', 'disk-fail'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export class Nemesis {
  readonly injected = new Map<FaultKind, number>();
  readonly log: string[] = [];
  /** Faults that could not complete (e.g. a promotion the cluster kept refusing), by kind. */
  readonly incomplete = new Map<FaultKind, number>();
  /** Safety problems the nemesis itself observed (a wiped member that was not refused). */
  readonly violations: string[] = [];
  private running = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly rng: Rng,
    private readonly kinds: readonly FaultKind[],
    private readonly now: () => number,
  ) {}

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private note(text: string): void {
    const line = `${(this.now() / 1000).toFixed(1).padStart(7)} s  ${text}`;
    this.log.push(line);
    if (process.env.CHAOS_VERBOSE) console.log(line);
  }

  /** Sleeps `ms` unless the run is stopping (faults are then healed at once). */
  private async hold(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.running && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }

  private async loop(): Promise<void> {
    await this.hold(this.rng.int(1000, 3000));
    while (this.running) {
      const kind = this.rng.pick(this.kinds);
      this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
      try {
        const ok = await this.inject(kind);
        if (!ok) this.incomplete.set(kind, (this.incomplete.get(kind) ?? 0) + 1);
      } catch (err) {
        this.note(`${kind}: failed to inject: ${(err as Error).message}`);
        this.incomplete.set(kind, (this.incomplete.get(kind) ?? 0) + 1);
      }
      await this.hold(this.rng.int(1000, 3000));
    }
  }

  private voters(): ChaosMember[] {
    return this.cluster.current.filter((m) => m.state === 'up');
  }

  private async inject(kind: FaultKind): Promise<boolean> {
    const c = this.cluster;
    const ids = c.current.map((m) => m.id);
    switch (kind) {
      case 'kill': {
        const m = this.rng.pick(c.current);
        this.note(`kill -9 member ${m.id}`);
        c.kill(m);
        await this.hold(this.rng.int(500, 4000));
        c.start(m);
        this.note(`restart member ${m.id}`);
        return this.ready([m]);
      }
      case 'kill-all': {
        this.note(`kill -9 every member (${ids.join(', ')})`);
        for (const m of c.current) c.kill(m);
        await this.hold(this.rng.int(300, 2000));
        for (const m of c.current) c.start(m);
        this.note('restart every member');
        return this.ready(c.current);
      }
      case 'pause': {
        const leader = this.rng.chance(0.5) ? await c.leader() : undefined;
        const m = leader ?? this.rng.pick(c.current);
        this.note(`SIGSTOP member ${m.id}${leader ? ' (the leader)' : ''}`);
        c.pause(m);
        await this.hold(this.rng.int(1000, 5000));
        c.resume(m);
        this.note(`SIGCONT member ${m.id}`);
        return true;
      }
      case 'partition-halves': {
        const shuffled = this.shuffle(ids);
        const cut = this.rng.int(1, shuffled.length);
        const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
        return this.partitionFor(`partition ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`, () => c.rules.partition(groups));
      }
      case 'partition-leader': {
        const leader = await this.leaderWithin(10_000);
        if (!leader) {
          this.note('partition-leader: no leader right now; skipped');
          return false;
        }
        const rest = ids.filter((id) => id !== leader.id);
        return this.partitionFor(`partition the leader ${leader.id} alone from {${rest.join(',')}}`, () => c.rules.partition([[leader.id], rest]));
      }
      case 'partition-ring': {
        const ring = this.shuffle(ids);
        const n = ring.length;
        const cut: [number, number][] = [];
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
          const d = Math.min(j - i, n - (j - i));
          if (d > 1) cut.push([ring[i]!, ring[j]!]);
        }
        return this.partitionFor(`ring of majorities ${ring.join('-')}-${ring[0]} (${cut.length} links cut)`, () => c.rules.cutLinks(cut));
      }
      case 'membership':
        return this.membership();
      case 'wipe':
        return this.wipe();
      case 'transfer-leader':
        return this.transferLeader();
      case 'disk-fail':
        return this.diskFail();
      case 'disk-full': {
        if (!c.disks) {
          this.note(`disk-full: data directories are not on disks of their own (${c.disksProblem ?? 'not asked for'}); skipped`);
          return false;
        }
        const m = this.rng.pick(c.current.filter((x) => x.child));
        const bytes = c.disk(m).fill();
        this.note(`fill the disk of member ${m.id} (${(bytes / 2 ** 20).toFixed(1)} MiB of filler)`);
        await this.hold(this.rng.int(2000, 6000));
        c.disk(m).free();
        const stopped = !m.child;
        this.note(`free the disk of member ${m.id}${stopped ? ' (it had stopped: restart it)' : ' (it kept running)'}`);
        if (!stopped) return true;
        c.start(m);
        return this.ready([m]);
      }
    }
  }

  /** Waits for restarted members to be ready again, so faults do not pile up on a slow start. */
  private async ready(members: readonly ChaosMember[]): Promise<boolean> {
    const ok = (await Promise.all(members.map((m) => this.cluster.waitReady(m)))).every(Boolean);
    this.note(ok ? `member${members.length > 1 ? 's' : ''} ${members.map((m) => m.id).join(', ')} ready` : `members ${members.map((m) => m.id).join(', ')} not all ready within 60 s`);
    return ok;
  }

  private async leaderWithin(ms: number): Promise<ChaosMember | undefined> {
    const until = Date.now() + ms;
    for (;;) {
      const l = await this.cluster.leader();
      if (l || Date.now() > until || !this.running) return l;
      await sleep(250);
    }
  }

  private async partitionFor(text: string, apply: () => void): Promise<boolean> {
    this.note(text);
    apply();
    this.cluster.enforceLinks();
    await this.hold(this.rng.int(2000, 6000));
    this.cluster.rules.heal();
    this.note('heal the network');
    return true;
  }

  /** The leader hands its role to another voter (thesis §3.10), through the admin route. */
  private async transferLeader(): Promise<boolean> {
    const c = this.cluster;
    const leader = await this.leaderWithin(10_000);
    if (!leader) {
      this.note('transfer-leader: no leader right now; skipped');
      return false;
    }
    const listed = await c.admin('GET', '/members');
    const voters = listed && listed.status === 200 ? (JSON.parse(listed.body) as { members: { id: number; role: string }[] }).members.filter((x) => x.role === 'voter').map((x) => x.id) : [];
    const targets = c.current.filter((m) => m.state === 'up' && m.id !== leader.id && voters.includes(m.id));
    if (targets.length === 0) {
      this.note('transfer-leader: no other voter is up; skipped');
      return false;
    }
    const target = this.rng.pick(targets);
    this.note(`transfer leadership from member ${leader.id} to member ${target.id}`);
    const a = await c.admin('POST', `/members/${target.id}/transfer-leadership`);
    if (!a || a.status !== 200) {
      this.note(`transfer to member ${target.id}: ${a ? `${a.status} ${a.body.trim()}` : 'no answer'}`);
      return false;
    }
    const now = await c.leader();
    this.note(`member ${target.id} leads (term ${String((JSON.parse(a.body) as { term: number }).term)})${now && now.id !== target.id ? `; member ${now.id} already leads again` : ''}`);
    return true;
  }

  /**
   * The member's disk starts failing writes (EIO). It must stop (fail-stop) and name the failed
   * directory, not keep serving; what it acknowledged before must survive (checked at the end with
   * the rest). Then the disk is repaired and the member restarted, or replaced if it refuses the
   * data the failure left behind.
   */
  private async diskFail(): Promise<boolean> {
    const c = this.cluster;
    if (!c.disks) {
      this.note(`disk-fail: data directories are not on disks of their own (${c.disksProblem ?? 'not asked for'}); skipped`);
      return false;
    }
    const leader = this.rng.chance(0.5) ? await c.leader() : undefined;
    const m = leader ?? this.rng.pick(c.current.filter((x) => x.child && x.state === 'up'));
    if (!m || !m.child) {
      this.note('disk-fail: no member is running; skipped');
      return false;
    }
    const logFile = join(c.root, `node-${m.id}.log`);
    const logBefore = existsSync(logFile) ? statSync(logFile).size : 0;
    const device = c.disk(m).fail();
    this.note(`the disk of member ${m.id}${leader ? ' (the leader)' : ''} fails from now on (${device} cut down to its first MiB: I/O errors)`);
    // Fail-stop: the member writes within a heartbeat or two while clients run; it then stops
    // (the CLI exits after a graceful stop of at most 10 s).
    const stopped = await c.waitExited(m, 30_000);
    const log = existsSync(logFile) ? readFileSync(logFile).subarray(logBefore).toString('utf8') : '';
    const fatal = log.split('\n').find((l) => l.includes('fatal error'));
    if (!stopped) {
      this.violations.push(`member ${m.id} kept running for 30 s on a disk that fails writes`);
      this.note(`member ${m.id} is still running 30 s after its disk failed: NOT fail-stop`);
      c.kill(m);
      await c.waitExited(m);
    } else {
      this.note(`member ${m.id} stopped (${m.lastExit}): ${fatal?.replace(/^\S+ +/, '').slice(0, 300) ?? 'no fatal error in its log'}`);
      // EIO, or EROFS when ext4 aborted its journal on the device error first and turned read-only.
      if (!fatal || !fatal.includes(m.dataDir) || !/Input\/output error|EIO|Read-only file system/.test(fatal)) {
        this.violations.push(`member ${m.id} stopped on a failing disk without naming the directory and the I/O error: ${fatal ?? '(no fatal error logged)'}`);
      }
    }
    if (m.state === 'removed') return false;
    await this.hold(this.rng.int(500, 2000));
    await c.disk(m).repair();
    this.note(`repaired the disk of member ${m.id} (e2fsck, mounted again); restart it`);
    c.start(m);
    if (await c.waitReady(m)) return this.ready([m]);
    // Refused the data the failure left (a torn log is not silently trusted): replace it.
    this.note(`member ${m.id} did not start on its repaired disk (${m.lastExit ?? 'not ready'}): replace it`);
    c.kill(m);
    await c.waitExited(m);
    const l = await this.leaderWithin(10_000);
    return this.replace(m, l?.id ?? 0);
  }

  /** A member that lost its disk comes back under its old id: it must be refused, then replaced. */
  private async wipe(): Promise<boolean> {
    const c = this.cluster;
    if (!CLI_HAS_IDENTITY) {
      this.note('wipe: this actor-raft has no member identity (--initial-cluster-state); skipped');
      return false;
    }
    const leader = await this.leaderWithin(10_000);
    const candidates = c.current.filter((m) => m.state === 'up' && m.id !== leader?.id);
    if (!leader || candidates.length === 0 || c.current.filter((m) => m.state === 'up').length < 3) {
      this.note('wipe: no leader or too few members up; skipped');
      return false;
    }
    const m = this.rng.pick(candidates);
    this.note(`kill -9 member ${m.id} and wipe its data directory`);
    c.kill(m);
    c.wipe(m);
    const logFile = join(c.root, `node-${m.id}.log`);
    const logBefore = existsSync(logFile) ? statSync(logFile).size : 0;
    c.start(m);
    // Refused: the process exits (an empty directory without --initial-cluster-state new or --join),
    // or, started with --join, it keeps running but its peers refuse it and it logs the line that
    // names the replace procedure (docs/membership.md).
    const refusedInLog = () => existsSync(logFile) && readFileSync(logFile).subarray(logBefore).toString('utf8').includes('must not rejoin under its old identity');
    const until = Date.now() + 60_000;
    while (m.child && !refusedInLog() && Date.now() < until) await sleep(200);
    if (!m.child) this.note(`member ${m.id} with a wiped disk was refused (its process exited)`);
    else if (refusedInLog()) {
      this.note(`member ${m.id} with a wiped disk was refused by its peers (it logged the replace procedure)`);
      c.kill(m);
    } else {
      this.note(`member ${m.id} started on an empty data directory under its old id: NOT refused`);
      this.violations.push(`member ${m.id} restarted with a wiped data directory and was not refused`);
      c.kill(m);
    }
    return this.replace(m, leader.id);
  }

  /** Remove a voter, wipe it, add it back as a learner (--join), promote it. */
  private async membership(): Promise<boolean> {
    const c = this.cluster;
    const leader = await this.leaderWithin(10_000);
    const candidates = c.current.filter((m) => m.state === 'up' && m.id !== leader?.id);
    if (!leader || candidates.length === 0 || this.voters().length < 3) {
      this.note('membership: no leader or too few members up; skipped');
      return false;
    }
    const m = this.rng.pick(candidates);
    return this.replace(m, leader.id);
  }

  /** The documented replacement: remove the member, wipe it, add it as a learner, --join, promote. */
  private async replace(m: ChaosMember, _leader: number): Promise<boolean> {
    const c = this.cluster;
    this.note(`remove member ${m.id}`);
    const removed = await c.admin('DELETE', `/members/${m.id}`);
    if (!removed || removed.status !== 200) {
      this.note(`remove member ${m.id}: ${removed ? `${removed.status} ${removed.body.trim()}` : 'no answer'}`);
      return false;
    }
    c.kill(m);
    m.state = 'removed';
    c.wipe(m);
    await this.hold(this.rng.int(500, 2000));
    this.note(`add member ${m.id} back as a learner with an empty disk`);
    let added;
    for (let i = 0; i < 20 && !(added && added.status === 200); i++) {
      added = await c.admin('POST', '/members', { id: m.id, address: c.raftAddress(m), learner: true });
      if (!added || added.status !== 200) await sleep(500);
    }
    if (!added || added.status !== 200) {
      this.note(`add member ${m.id}: ${added ? `${added.status} ${added.body.trim()}` : 'no answer'}; it stays out`);
      return false;
    }
    m.join = true;
    c.start(m);
    await c.waitReady(m);
    for (let i = 0; i < 60; i++) {
      await sleep(500);
      const p = await c.admin('POST', `/members/${m.id}/promote`);
      if (p && p.status === 200) {
        this.note(`promoted member ${m.id} to voter`);
        return true;
      }
      if (p && p.status === 409 && /already/.test(p.body)) return true;
    }
    this.note(`member ${m.id} was not promoted within 30 s; it stays a learner`);
    return false;
  }

  private shuffle(ids: readonly number[]): number[] {
    const a = [...ids];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}
