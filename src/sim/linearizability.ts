/**
 * A linearizability checker for histories of operations against any sequential model.
 *
 * A history is linearizable (Herlihy & Wing, 1990) when every operation can be given a single
 * point in time between its call and its return, such that the operations, taken in the order of
 * those points, are a legal run of the sequential model and produce the outputs the clients saw.
 * This is what Raft promises its clients (Raft paper §8: "linearizable semantics"); the checker
 * verifies it from the outside, knowing nothing of Raft.
 *
 * The search is Wing and Gong's (1993): walk the history in real-time order, try to linearize
 * each operation whose call has been seen, and backtrack when an operation's return is reached
 * before it could be linearized. Lowe's memoization (2017) makes it practical: a configuration
 * (the set of operations linearized so far, the model state) that was already explored is not
 * explored again. When the model partitions the history (by key), each part is checked on its own
 * (linearizability is compositional: Herlihy & Wing's locality), which keeps the search small.
 *
 * Operations whose outcome is unknown (a client timed out: the operation may or may not have taken
 * effect) have no return: they may take effect at any time after their call, or never. They never
 * constrain other operations, and the search may leave them out.
 *
 * The search is exponential in the worst case, so it runs under a time budget and says "unknown"
 * when the budget runs out rather than hanging.
 */

/** One operation of a history, as a client saw it. Times are in any monotonic unit (ms, ticks). */
export interface Operation<I, O> {
  /** Who issued it (a client id), for explanations. */
  readonly client?: number | string;
  readonly input: I;
  /** When the client issued it. */
  readonly call: number;
  /**
   * When the client saw the answer. Absent (or `Infinity`) when the outcome is unknown: the
   * operation may have taken effect at any time after `call`, or never.
   */
  readonly return?: number;
  /** The answer. Ignored (and usually absent) when the outcome is unknown. */
  readonly output?: O;
  /** True when the outcome is unknown (a timeout). Implied when `return` is absent or Infinity. */
  readonly unknown?: boolean;
}

/** A sequential specification. It must be deterministic and must not mutate states. */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` to `state`. `output` is what the client saw, or `undefined` when the outcome
   * is unknown (then any output is acceptable). Returns whether the output is legal here and the
   * state after the operation.
   */
  step(state: S, input: I, output: O | undefined): { readonly ok: boolean; readonly state: S };
  /** Whether two states are the same. */
  equal(a: S, b: S): boolean;
  /** A string that equal states share (speeds up the memo; optional). */
  hash?(state: S): string;
  /**
   * The key an operation touches, when operations on different keys are independent: the history
   * is then checked one key at a time (much faster, and a failure names the key).
   */
  partition?(input: I): string;
  /** How to print an operation in explanations (default: JSON). */
  describe?(input: I, output: O | undefined, unknown: boolean): string;
}

export interface CheckOptions {
  /** Milliseconds of wall-clock time the whole check may take. Default 10,000. */
  readonly timeoutMs?: number;
  /** Milliseconds spent shrinking a failure to a minimal set of operations. Default 5,000. */
  readonly minimizeMs?: number;
}

/** Why a partition could not be linearized, shrunk to a minimal set of operations. */
export interface Explanation<I, O> {
  /** The partition key ('' when the model does not partition). */
  readonly key: string;
  /**
   * A minimal set of operations of that key that cannot be linearized: removing any one of them
   * makes the rest linearizable (when shrinking finished within its budget; see `minimal`).
   */
  readonly operations: readonly Operation<I, O>[];
  /**
   * Those of `operations` whose answer the failure does not depend on: they matter only in that
   * they were issued (a write whose value someone read), whatever they returned.
   */
  readonly answerNotNeeded: readonly Operation<I, O>[];
  /** False when shrinking ran out of time: `operations` still fails, but may not be minimal. */
  readonly minimal: boolean;
  /** The longest order found for the failing set before the search got stuck. */
  readonly longestPrefix: readonly Operation<I, O>[];
  /** The operation whose return came before it could be placed after `longestPrefix`. */
  readonly stuckAt: Operation<I, O> | undefined;
  /** Human-readable text of all of the above. */
  readonly text: string;
}

export type CheckResult<I, O> =
  | { readonly verdict: 'linearizable'; readonly operations: number; readonly partitions: number; readonly elapsedMs: number }
  | { readonly verdict: 'not linearizable'; readonly operations: number; readonly partitions: number; readonly elapsedMs: number; readonly explanation: Explanation<I, O> }
  | { readonly verdict: 'unknown'; readonly operations: number; readonly partitions: number; readonly elapsedMs: number; readonly reason: string; readonly key: string };

/** A history that is not well-formed (a return before its call, a NaN time). */
export class InvalidHistoryError extends Error {
  override readonly name = 'InvalidHistoryError';
}

/** Checks `history` against `model`. */
export function checkLinearizable<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[], options: CheckOptions = {}): CheckResult<I, O> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 10_000);
  history.forEach(validate);
  const parts = partitionHistory(model, history);
  const elapsed = () => Date.now() - started;
  // Small parts first: a violation in a small part is found (and explained) fast.
  const order = [...parts.entries()].sort((a, b) => a[1].length - b[1].length);
  let unknownKey: string | undefined;
  for (const [key, ops] of order) {
    const r = search(model, ops, deadline);
    if (r.result === 'timeout') {
      unknownKey ??= key;
      continue;
    }
    if (r.result === 'ok') continue;
    const explanation = explain(model, key, ops, r, Math.min(deadline, Date.now() + (options.minimizeMs ?? 5000)));
    return { verdict: 'not linearizable', operations: history.length, partitions: parts.size, elapsedMs: elapsed(), explanation };
  }
  if (unknownKey !== undefined) {
    return {
      verdict: 'unknown',
      operations: history.length,
      partitions: parts.size,
      elapsedMs: elapsed(),
      key: unknownKey,
      reason: `time budget of ${options.timeoutMs ?? 10_000} ms exceeded (key ${JSON.stringify(unknownKey)} not decided)`,
    };
  }
  return { verdict: 'linearizable', operations: history.length, partitions: parts.size, elapsedMs: elapsed() };
}

function isUnknown(op: Operation<unknown, unknown>): boolean {
  return op.unknown === true || op.return === undefined || op.return === Infinity;
}

function validate(op: Operation<unknown, unknown>, i: number): void {
  if (!Number.isFinite(op.call)) throw new InvalidHistoryError(`operation ${i}: call time must be a finite number, got ${op.call}`);
  if (op.return !== undefined && op.return !== Infinity) {
    if (!Number.isFinite(op.return)) throw new InvalidHistoryError(`operation ${i}: return time must be a number, got ${op.return}`);
    if (op.return < op.call) throw new InvalidHistoryError(`operation ${i}: returns (${op.return}) before its call (${op.call})`);
  }
}

function partitionHistory<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): Map<string, Operation<I, O>[]> {
  const parts = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const key = model.partition ? model.partition(op.input) : '';
    let list = parts.get(key);
    if (!list) parts.set(key, (list = []));
    list.push(op);
  }
  return parts;
}

// ----- the search -----

/** A call or a return in the doubly linked list of the history's events. */
interface Event {
  readonly op: number;
  readonly isCall: boolean;
  /** For a call: its return event. */
  match: Event | undefined;
  prev: Event | undefined;
  next: Event | undefined;
}

interface SearchFailure {
  readonly result: 'fail';
  /** Indexes (into the searched ops) of the longest order found. */
  readonly longestPrefix: readonly number[];
  readonly stuckAt: number | undefined;
}

type SearchResult = { readonly result: 'ok' } | { readonly result: 'timeout' } | SearchFailure;

/** The history's events in real-time order, as a list with a sentinel head. */
function buildList(ops: readonly Operation<unknown, unknown>[]): Event {
  const events: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((op, i) => {
    events.push({ time: op.call, isCall: true, op: i });
    events.push({ time: isUnknown(op) ? Infinity : op.return!, isCall: false, op: i });
  });
  // At equal times calls come first: operations that touch at an instant count as concurrent.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1) || 0);
  const head: Event = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  const calls = new Map<number, Event>();
  let last = head;
  for (const e of events) {
    const ev: Event = { op: e.op, isCall: e.isCall, match: undefined, prev: last, next: undefined };
    last.next = ev;
    last = ev;
    if (e.isCall) calls.set(e.op, ev);
    else calls.get(e.op)!.match = ev;
  }
  return head;
}

/** Takes a call and its return out of the list. */
function lift(call: Event): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back (the reverse of `lift`). */
function unlift(call: Event): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** The memo of explored configurations: (linearized set, state). */
class Memo<S> {
  private readonly seen = new Map<string, { bits: Uint32Array; state: S }[]>();

  constructor(
    private readonly equal: (a: S, b: S) => boolean,
    private readonly hash: ((s: S) => string) | undefined,
  ) {}

  /** Records the configuration; false when it was already there. */
  add(bits: Uint32Array, h1: number, h2: number, state: S): boolean {
    const key = this.hash ? `${h1}:${h2}:${this.hash(state)}` : `${h1}:${h2}`;
    let list = this.seen.get(key);
    if (!list) this.seen.set(key, (list = []));
    for (const c of list) if (sameBits(c.bits, bits) && this.equal(c.state, state)) return false;
    list.push({ bits: bits.slice(), state });
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Random 32-bit words per operation, XORed into two running hashes of the linearized set. */
function zobrist(n: number): [Uint32Array, Uint32Array] {
  const a = new Uint32Array(n);
  const b = new Uint32Array(n);
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < n; i++) {
    a[i] = next();
    b[i] = next();
  }
  return [a, b];
}

/** Wing–Gong search with Lowe's memo over one partition. */
function search<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], deadline: number): SearchResult {
  const head = buildList(ops);
  const memo = new Memo<S>(model.equal.bind(model), model.hash?.bind(model));
  const bits = new Uint32Array((ops.length + 31) >>> 5);
  const [za, zb] = zobrist(ops.length);
  let h1 = 0;
  let h2 = 0;
  let knownLeft = ops.filter((op) => !isUnknown(op)).length;
  const stack: { call: Event; state: S }[] = [];
  let state = model.init();
  let longest: number[] = [];
  let stuckAt: number | undefined;
  let iterations = 0;
  let entry = head.next;
  while (knownLeft > 0) {
    if ((++iterations & 0x3ff) === 0 && Date.now() > deadline) return { result: 'timeout' };
    if (entry === undefined) throw new Error('linearizability search ran off the end of the history');
    if (entry.isCall) {
      const op = ops[entry.op]!;
      const unknown = isUnknown(op);
      const r = model.step(state, op.input, unknown ? undefined : op.output);
      if (r.ok) {
        const i = entry.op;
        bits[i >>> 5]! |= 1 << (i & 31);
        const n1 = (h1 ^ za[i]!) >>> 0;
        const n2 = (h2 ^ zb[i]!) >>> 0;
        if (memo.add(bits, n1, n2, r.state)) {
          stack.push({ call: entry, state });
          state = r.state;
          h1 = n1;
          h2 = n2;
          if (!unknown) knownLeft--;
          lift(entry);
          entry = head.next;
          continue;
        }
        bits[i >>> 5]! &= ~(1 << (i & 31));
      }
      entry = entry.next;
      continue;
    }
    // A return reached before its operation was linearized: undo the last choice.
    if (stack.length >= longest.length) {
      longest = stack.map((s) => s.call.op);
      stuckAt = entry.op;
    }
    const top = stack.pop();
    if (!top) return { result: 'fail', longestPrefix: longest, stuckAt };
    const i = top.call.op;
    bits[i >>> 5]! &= ~(1 << (i & 31));
    h1 = (h1 ^ za[i]!) >>> 0;
    h2 = (h2 ^ zb[i]!) >>> 0;
    state = top.state;
    if (!isUnknown(ops[i]!)) knownLeft++;
    unlift(top.call);
    entry = top.call.next;
  }
  return { result: 'ok' };
}

// ----- explaining a failure -----

/**
 * Shrinks a failure to the operations that explain it, keeping each change only when the rest
 * still fails: drop the operations called after the one the search got stuck on returned; drop
 * reads (operations that change no state); forget the answers of the rest one by one (an operation
 * whose answer is not needed becomes "unknown outcome": a write stays, since a value someone read
 * must have been written by someone); drop what was forgotten when it changes no state.
 * Simply deleting operations would not do: delete every write and any read of a written value
 * fails on its own, an "explanation" that explains nothing.
 * The result is 1-minimal: forgetting the answer of any remaining operation makes it linearizable.
 */
function explain<S, I, O>(model: Model<S, I, O>, key: string, ops: readonly Operation<I, O>[], failure: SearchFailure, deadline: number): Explanation<I, O> {
  /** The operations still in the set: an index into `ops`, and whether its answer is forgotten. */
  let current = ops.map((_, i) => ({ i, forgotten: false }));
  let last: SearchFailure = failure;
  let minimal = true;
  const forget = (op: Operation<I, O>): Operation<I, O> => ({ ...(op.client === undefined ? {} : { client: op.client }), input: op.input, call: op.call, unknown: true });
  const build = (set: typeof current) => set.map((c) => (c.forgotten ? forget(ops[c.i]!) : ops[c.i]!));
  /** Keeps `candidate` when it still fails; 'timeout' when the budget ran out. */
  const attempt = (candidate: typeof current): 'timeout' | void => {
    if (Date.now() > deadline) return 'timeout';
    const r = search(model, build(candidate), deadline);
    if (r.result === 'timeout') return 'timeout';
    if (r.result !== 'fail') return;
    current = candidate;
    last = r;
  };
  const stuckOp = () => (last.stuckAt === undefined ? undefined : ops[current[last.stuckAt]!.i]);
  /** Operations that change none of the states along the failed search's longest order (reads). */
  const inertNow = () => {
    const states = statesAlong(model, build(current), last);
    return new Set(current.filter((c) => inert(model, ops[c.i]!.input, states)).map((c) => c.i));
  };
  /** Tries removing (or forgetting) the chosen operations in chunks, halving, down to one at a time. */
  const shrinkChunks = (choose: () => number[], change: (set: typeof current, chosen: ReadonlySet<number>) => typeof current): boolean => {
    for (let chunk = Math.max(1, choose().length >> 1); chunk >= 1; chunk = chunk === 1 ? 0 : chunk >> 1) {
      const chosen = choose();
      for (let start = 0; start < chosen.length; start += chunk) {
        const part = new Set(chosen.slice(start, start + chunk));
        if (![...part].some((i) => current.some((c) => c.i === i))) continue;
        if (attempt(change(current, part)) === 'timeout') return false;
      }
    }
    return true;
  };
  const latestFirst = (list: typeof current) => list.slice().sort((x, y) => ops[y.i]!.call - ops[x.i]!.call).map((c) => c.i);
  passes: {
    // Pass 0: operations called after the stuck operation returned.
    const stuck = stuckOp();
    if (stuck !== undefined && !isUnknown(stuck)) {
      if (attempt(current.filter((c) => ops[c.i]!.call <= stuck.return!)) === 'timeout') {
        minimal = false;
        break passes;
      }
    }
    // Pass 1: operations that change no state (reads), removed outright: cheap, and most of a
    // history. Pass 2: forget the answers of the rest, latest calls first (the explanation then
    // ends at the first point where things went wrong). Forgetting one at a time: each forgotten
    // write may move anywhere later, which makes the search costlier.
    const inertOps = inertNow();
    if (!shrinkChunks(() => latestFirst(current.filter((c) => inertOps.has(c.i))), (set, chosen) => set.filter((c) => !chosen.has(c.i)))) {
      minimal = false;
      break passes;
    }
    for (const i of latestFirst(current)) {
      const k = current.findIndex((c) => c.i === i);
      if (k < 0 || current[k]!.forgotten || isUnknown(ops[i]!)) continue;
      const candidate = current.slice();
      candidate[k] = { i, forgotten: true };
      if (attempt(candidate) === 'timeout') {
        minimal = false;
        break passes;
      }
    }
    // Pass 3: drop forgotten or unknown operations that change no state or were called after the
    // stuck operation returned.
    for (let k = current.length - 1; k >= 0; k--) {
      if (!current[k]!.forgotten && !isUnknown(ops[current[k]!.i]!)) continue;
      const op = ops[current[k]!.i]!;
      const stuckNow = stuckOp();
      const afterStuck = stuckNow !== undefined && !isUnknown(stuckNow) && op.call > stuckNow.return!;
      if (!afterStuck && !inert(model, op.input, statesAlong(model, build(current), last))) continue;
      if (attempt(current.slice(0, k).concat(current.slice(k + 1))) === 'timeout') {
        minimal = false;
        break passes;
      }
    }
  }
  const operations = current.map((c) => ops[c.i]!);
  const notNeeded = new Set(current.filter((c) => c.forgotten).map((c) => ops[c.i]!));
  const longestPrefix = last.longestPrefix.map((k) => operations[k]!);
  const stuckAt = last.stuckAt === undefined ? undefined : operations[last.stuckAt];
  const text = explanationText(model, key, operations, notNeeded, minimal, longestPrefix, stuckAt);
  return { key, operations, answerNotNeeded: [...notNeeded], minimal, longestPrefix, stuckAt, text };
}

/** The model states along the longest order the failed search found, the initial state first. */
function statesAlong<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], failure: SearchFailure): S[] {
  const states = [model.init()];
  for (const k of failure.longestPrefix) {
    const op = ops[k]!;
    states.push(model.step(states[states.length - 1]!, op.input, isUnknown(op) ? undefined : op.output).state);
  }
  return states;
}

/** Whether applying `input` leaves every one of `states` as it was (a read, a failed compare). */
function inert<S, I, O>(model: Model<S, I, O>, input: I, states: readonly S[]): boolean {
  return states.every((s) => model.equal(model.step(s, input, undefined).state, s));
}

/** One operation as a line: client, interval, input and output. */
export function describeOperation<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const unknown = isUnknown(op);
  const what = model.describe ? model.describe(op.input, unknown ? undefined : op.output, unknown) : `${JSON.stringify(op.input)} -> ${unknown ? '?' : JSON.stringify(op.output)}`;
  const client = op.client === undefined ? '' : `client ${op.client} `;
  return `${client}[${op.call}, ${unknown ? 'unknown' : op.return}] ${what}`;
}

function explanationText<S, I, O>(
  model: Model<S, I, O>,
  key: string,
  ops: readonly Operation<I, O>[],
  notNeeded: ReadonlySet<Operation<I, O>>,
  minimal: boolean,
  prefix: readonly Operation<I, O>[],
  stuckAt: Operation<I, O> | undefined,
): string {
  const sorted = [...ops].sort((a, b) => a.call - b.call);
  const lines = [
    `not linearizable${key ? ` on key ${JSON.stringify(key)}` : ''}: these ${ops.length} operations cannot be ordered${minimal ? ' (a minimal set: ignore the answer of any one of them and the rest can)' : ' (shrinking ran out of time: maybe not minimal)'}:`,
    ...sorted.map((op) => `  ${describeOperation(model, op)}${notNeeded.has(op) ? '   (its answer does not matter, only that it was issued)' : ''}`),
  ];
  if (stuckAt) {
    lines.push(
      prefix.length > 0 ? `longest legal order found: ${prefix.map((op) => describeOperation(model, op)).join('; ')}` : 'no operation can go first',
      `then nothing can place ${describeOperation(model, stuckAt)} before it returns`,
    );
  }
  return lines.join('\n');
}
