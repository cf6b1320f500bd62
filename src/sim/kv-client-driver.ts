/**
 * Simulated key-value clients for the simulation kit, and the randomized schedule that checks the
 * history they record for linearizability.
 *
 * Each client issues one operation at a time (put, compare-and-swap or a linearizable get) to a
 * random running node and records what it saw, with the virtual time of the call and of the
 * answer. A write is answered when the node it was sent to applies it (as `RaftNode.propose`
 * resolves); a read is a ReadIndex barrier (Raft §6.4) followed by a read of that node's state
 * machine once it applied up to the read index. A client that hears nothing within its timeout,
 * or whose node crashed, records the write's outcome as unknown (it may or may not have happened);
 * a refused proposal (not the leader, node down) is known not to have happened and is left out.
 *
 * The state machine applies each client operation at most once: a proposal forwarded by a
 * follower can be duplicated by the network, and Raft §8 has the state machine discard a command
 * it already applied (by the client's serial number) so that duplicates cannot break
 * linearizability.
 */
import { decode, encode } from '../raft/codec.ts';
import { Rng } from '../raft/rng.ts';
import type { SimStateMachine } from './digest-state-machine.ts';
import { type CheckResult, type Operation, checkLinearizable } from './linearizability.ts';
import { type KvInput, type KvOutput, kvModel } from './linearizability-models.ts';
import { Simulation } from './simulation.ts';

/** A client command as it travels through the log. */
interface ClientCommand {
  /** Unique per operation (client serial number). */
  readonly id: number;
  readonly op: KvInput;
}

/** The key-value state machine of the simulated nodes, with at-most-once application per command id. */
export class SimKvStateMachine implements SimStateMachine {
  private map = new Map<string, string>();
  private seen = new Set<number>();

  constructor(private readonly onApply: (cmd: number, output: KvOutput) => void) {}

  apply(data: Uint8Array): KvOutput | undefined {
    if (data.byteLength === 0) return undefined; // a new leader's empty entry (Raft §8)
    const cmd = decode<ClientCommand>(data);
    if (this.seen.has(cmd.id)) return undefined; // a duplicate of a command already applied
    this.seen.add(cmd.id);
    const op = cmd.op;
    const current = this.map.get(op.key) ?? null;
    let output: KvOutput;
    switch (op.op) {
      case 'put':
        this.map.set(op.key, op.value);
        output = {};
        break;
      case 'cas':
        if (current === op.prev) this.map.set(op.key, op.value);
        output = { ok: current === op.prev };
        break;
      case 'delete': {
        const removed = current !== null && (op.prev === undefined || op.prev === current);
        if (removed) this.map.delete(op.key);
        output = { ok: removed };
        break;
      }
      case 'get':
        output = { value: current };
        break;
    }
    this.onApply(cmd.id, output);
    return output;
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  /** Keys and values in key order: equal on nodes that applied the same commands. */
  contents(): string {
    return JSON.stringify([...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  }

  snapshot(): Uint8Array {
    return encode({ map: [...this.map.entries()], seen: [...this.seen] });
  }

  restore(data: Uint8Array): void {
    const s = decode<{ map: [string, string][]; seen: number[] }>(data);
    this.map = new Map(s.map);
    this.seen = new Set(s.seen);
  }
}

export interface KvClientOptions {
  readonly clients?: number;
  readonly keys?: readonly string[];
  /** Ticks a client waits for an answer before recording the outcome as unknown. */
  readonly timeoutTicks?: number;
  /** Chance per tick that an idle client issues an operation. */
  readonly rate?: number;
}

type Pending =
  | { readonly kind: 'write'; readonly client: number; readonly node: number; readonly id: number; readonly input: KvInput; readonly call: number; readonly deadline: number }
  | { readonly kind: 'read'; readonly client: number; readonly node: number; readonly ctx: Uint8Array; readonly input: KvInput & { op: 'get' }; readonly call: number; readonly deadline: number; index?: number };

/** How the client operations ended. */
export interface ClientCounts {
  ok: number;
  failed: number;
  unknown: number;
}

/**
 * Drives clients against a Simulation. Create it first, pass `stateMachine` to the Simulation,
 * then `attach` the simulation; call `tick()` after every tick of virtual time.
 */
export class KvClientDriver {
  readonly history: Operation<KvInput, KvOutput>[] = [];
  readonly counts: ClientCounts = { ok: 0, failed: 0, unknown: 0 };
  private sim: Simulation | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly clients: number;
  private readonly keys: readonly string[];
  private readonly timeoutMs: number;
  private readonly rate: number;
  private nextId = 1;
  /** Answers from state machines: command id → output, per node (only the node asked answers). */
  private readonly answers = new Map<number, { node: number; output: KvOutput; at: number }>();

  constructor(
    private readonly rng: Rng,
    opts: KvClientOptions & { tickMs?: number } = {},
  ) {
    this.clients = opts.clients ?? 4;
    this.keys = opts.keys ?? ['x', 'y', 'z'];
    this.timeoutMs = (opts.timeoutTicks ?? 60) * (opts.tickMs ?? 10);
    this.rate = opts.rate ?? 0.3;
  }

  /** The state machine factory to give the Simulation. */
  readonly stateMachine = (node: number): SimKvStateMachine =>
    new SimKvStateMachine((id, output) => {
      const p = this.pending.get(id);
      // Only the node the client asked answers it, and only while the client still waits.
      if (p && p.kind === 'write' && p.node === node && !this.answers.has(id)) this.answers.set(id, { node, output, at: this.sim?.now ?? 0 });
    });

  attach(sim: Simulation): void {
    this.sim = sim;
  }

  /** Operations still waiting for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** A node crashed: its clients lose their connections, so their writes' outcomes are unknown. */
  nodeCrashed(node: number): void {
    for (const [id, p] of this.pending) if (p.node === node) this.finishUnknown(id, p);
  }

  /** Settles answers and timeouts, then lets idle clients issue new operations (unless `issue` is false). */
  tick(issue = true): void {
    const sim = this.sim!;
    for (const [id, p] of [...this.pending]) {
      if (p.kind === 'write') {
        const a = this.answers.get(id);
        if (a) {
          this.pending.delete(id);
          this.answers.delete(id);
          this.history.push({ client: p.client, call: p.call, return: a.at, input: p.input, output: a.output });
          this.counts.ok++;
        } else if (sim.now >= p.deadline) this.finishUnknown(id, p);
        continue;
      }
      if (p.index === undefined) {
        const rs = sim.reads(p.node).find((r) => sameBytes(r.context, p.ctx));
        if (rs) p.index = rs.index;
      }
      if (p.index !== undefined && sim.status(p.node).applied >= p.index) {
        const sm = sim.stateMachine(p.node) as SimKvStateMachine;
        this.pending.delete(id);
        this.history.push({ client: p.client, call: p.call, return: sim.now, input: p.input, output: { value: sm.get(p.input.key) } });
        this.counts.ok++;
      } else if (sim.now >= p.deadline) this.finishUnknown(id, p);
    }
    if (!issue) return;
    const busy = new Set([...this.pending.values()].map((p) => p.client));
    for (let c = 1; c <= this.clients; c++) {
      if (busy.has(c) || !this.rng.chance(this.rate)) continue;
      const up = sim.upNodes();
      if (up.length === 0) continue;
      this.issue(c, this.rng.pick(up), this.randomOp(c));
    }
  }

  /** Issues one operation now from `client` to `node`. */
  issue(client: number, node: number, input: KvInput): void {
    const sim = this.sim!;
    const id = this.nextId++;
    const call = sim.now;
    const deadline = call + this.timeoutMs;
    if (input.op === 'get') {
      const ctx = encode({ read: id });
      if (sim.readIndex(node, ctx) !== undefined) {
        this.counts.failed++;
        return;
      }
      this.pending.set(id, { kind: 'read', client, node, ctx, input, call, deadline });
      return;
    }
    // Registered before proposing: a one-node cluster applies during the call.
    const p: Pending = { kind: 'write', client, node, id, input, call, deadline };
    this.pending.set(id, p);
    const out = sim.propose(node, encode({ id, op: input } satisfies ClientCommand));
    if (out.kind === 'dropped' || out.kind === 'notLeader') {
      // Refused before reaching Raft: it will never be applied.
      this.pending.delete(id);
      this.answers.delete(id);
      this.counts.failed++;
    }
  }

  private randomOp(client: number): KvInput {
    const key = this.rng.pick(this.keys);
    const value = `c${client}-${this.nextId}`;
    const r = this.rng.next();
    if (r < 0.35) return { op: 'get', key };
    if (r < 0.7) return { op: 'put', key, value };
    // CAS from the value most recently seen for this key, or create-only.
    const seen = [...this.history].reverse().find((o) => o.input.key === key && o.output && 'value' in o.output);
    const prev = seen && 'value' in seen.output! ? (seen.output as { value: string | null }).value : null;
    return { op: 'cas', key, prev, value };
  }

  private finishUnknown(id: number, p: Pending): void {
    this.pending.delete(id);
    this.answers.delete(id);
    this.counts.unknown++;
    // A read that never answered constrains nothing; a write may have happened.
    if (p.kind === 'write') this.history.push({ client: p.client, call: p.call, input: p.input });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ----- the randomized schedule -----

export interface HistoryScheduleOptions {
  readonly ticks?: number;
  readonly nodes?: number;
  readonly clients?: number;
  /** Budget for the linearizability check, ms of wall-clock time. */
  readonly checkTimeoutMs?: number;
  /**
   * Lease-based reads (`readOnlyOption: 'leaseBased'`, CheckQuorum on) under the lease's
   * assumptions: message delay well below the election timeout and no crashes (a restarted
   * follower forgets whom it heard from and may vote at once). Drops, duplicates, reordering and
   * partitions stay.
   */
  readonly leaseReads?: boolean;
}

export interface HistoryScheduleResult {
  readonly seed: number;
  readonly nodes: number;
  readonly operations: number;
  readonly counts: ClientCounts;
  readonly crashes: number;
  readonly partitions: number;
  readonly check: CheckResult<KvInput, KvOutput>;
}

/** The history was not linearizable, the nodes disagree, or the check could not decide. */
export class HistoryViolation extends Error {
  constructor(
    readonly seed: number,
    what: string,
  ) {
    super(`${what}\n(seed ${seed}; replay: LIN_SIM_SEED=${seed} npm test -- sim-linearizable)`);
    this.name = 'HistoryViolation';
  }
}

/**
 * Clients against a cluster under faults (loss, duplicates, reordering, partitions, crashes);
 * the safety checker runs after every step as always. Then faults stop, clients read every key,
 * and the recorded history must be linearizable and every node's map identical.
 */
export function runHistorySchedule(seed: number, opts: HistoryScheduleOptions = {}): HistoryScheduleResult {
  const rng = new Rng(seed ^ 0x2545f491);
  const nodes = opts.nodes ?? (rng.chance(0.5) ? 3 : 5);
  const ticks = opts.ticks ?? 1500;
  const tickMs = 10;
  const lease = opts.leaseReads ?? false;
  const driver = new KvClientDriver(new Rng(seed ^ 0x68e31da4), { clients: opts.clients ?? 4, tickMs, timeoutTicks: rng.int(20, 80) });
  const sim = new Simulation({
    seed,
    nodes,
    tickMs,
    network: { dropRate: rng.next() * 0.1, duplicateRate: rng.next() * 0.1, delay: [1, lease ? (rng.int(5, 30), 3) : rng.int(5, 30)], reorder: true },
    config: {
      preVote: true,
      checkQuorum: rng.chance(0.7) || lease,
      snapshotInterval: rng.pick([20, 100, 10000]),
      snapshotCatchUpEntries: rng.int(0, 20),
      ...(lease ? { readOnlyOption: 'leaseBased' as const } : {}),
    },
    stateMachine: driver.stateMachine,
  });
  driver.attach(sim);
  let partitions = 0;
  const down = new Set<number>();
  for (let t = 0; t < ticks; t++) {
    sim.runFor(1);
    driver.tick();
    const r = rng.next();
    if (r < 0.008) {
      const shuffled = [...sim.ids].sort(() => rng.next() - 0.5);
      const cut = rng.int(1, nodes);
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      partitions++;
    } else if (r < 0.012) {
      sim.isolate(sim.leader() ?? rng.pick(sim.ids));
      partitions++;
    } else if (r < 0.025) {
      sim.heal();
    } else if (r < 0.03 && !lease && down.size < Math.floor((nodes - 1) / 2)) {
      const id = rng.pick(sim.ids);
      if (!down.has(id)) {
        sim.crash(id);
        driver.nodeCrashed(id);
        down.add(id);
      }
    } else if (r < 0.04 && down.size > 0) {
      const id = rng.pick([...down]);
      sim.restart(id);
      down.delete(id);
    }
  }
  // Heal, let every client finish, then read every key once more through a node that leads.
  sim.heal();
  sim.setNetwork({ dropRate: 0, duplicateRate: 0, delay: [1, 5] });
  for (const id of down) sim.restart(id);
  for (let t = 0; t < 200 && driver.inFlight > 0; t++) {
    sim.runFor(1);
    driver.tick(false);
  }
  if (!sim.runUntil((s) => s.leader() !== undefined, 300)) throw new HistoryViolation(seed, 'no leader after healing');
  for (const key of ['x', 'y', 'z']) driver.issue(100, sim.leader()!, { op: 'get', key });
  for (let t = 0; t < 300 && driver.inFlight > 0; t++) {
    sim.runFor(1);
    driver.tick(false);
  }
  const check = checkLinearizable(kvModel, driver.history, { timeoutMs: opts.checkTimeoutMs ?? 20_000 });
  const result: HistoryScheduleResult = { seed, nodes, operations: driver.history.length, counts: driver.counts, crashes: sim.counters.crashes, partitions, check };
  if (check.verdict === 'not linearizable') throw new HistoryViolation(seed, check.explanation.text);
  if (check.verdict === 'unknown') throw new HistoryViolation(seed, `linearizability not decided: ${check.reason}`);
  // Once every node applied everything, their maps must be identical.
  const last = Math.max(...sim.ids.map((id) => sim.status(id).commit));
  if (!sim.runUntil((s) => s.ids.every((id) => s.status(id).applied >= last), 300)) throw new HistoryViolation(seed, 'nodes did not catch up after healing');
  const contents = sim.ids.map((id) => (sim.stateMachine(id) as SimKvStateMachine).contents());
  if (new Set(contents).size !== 1) throw new HistoryViolation(seed, `state machines differ: ${contents.join(' | ')}`);
  return result;
}
