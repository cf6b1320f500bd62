/**
 * The real crash test: a child process (fixtures/crash-writer.ts) writes through the StorageActor
 * into a DiskStorage, and is killed with SIGKILL at random moments, again and again, in the same
 * directory. After every kill the directory must hold exactly the state left by the writes the
 * child submitted up to some point at or after the last one it was told was persisted: nothing
 * acknowledged is lost (Raft Figure 2: persisted before responding), no write is half there, and
 * every entry decodes to the data derived from its index and term.
 *
 * The kill points come from the seed: each writer is killed once the parent has read the K-th
 * write line it submitted, K drawn from the seed (never a wall-clock delay). CRASH_SEED=<n> runs
 * another seed (`CRASH_SEED=random` picks one and prints it); CRASH_KILLS=<n> changes the number of
 * kills (default 20). A failure prints the command that replays it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiskStorage } from '../src/io/disk-storage.ts';
import type { HardState } from '../src/raft/raftpb.ts';
import { dataFor, seededRandom, tempDir } from './fixtures/log-fixtures.ts';
import { countFromEnv, seedFromEnv, withReplay } from './helpers/seeds.ts';

const writerScript = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const seed = seedFromEnv('CRASH_SEED', 20261201);
const kills = countFromEnv('CRASH_KILLS', 20);
const replay = `CRASH_SEED=${seed} CRASH_KILLS=${kills} npm test -- storage-crash`;
/** Writers started ahead of their turn. */
const WARM_WRITERS = 2;

/** The log as the parent expects it: terms of entries first..first+terms.length-1, and hard state. */
interface LogModel {
  first: number;
  terms: number[];
  hardState: HardState;
}

interface WriteLine {
  seq: number;
  from: number;
  count: number;
  term: number;
  hardState?: HardState;
}

interface ChildRun {
  writes: WriteLine[];
  lastPersisted: number;
  compactedTo?: number;
  stderr: string;
  signal: NodeJS.Signals | null;
}

function parse(stdout: string, stderr: string, signal: NodeJS.Signals | null): ChildRun {
  const run: ChildRun = { writes: [], lastPersisted: 0, stderr, signal };
  let lastSeq = 0;
  for (const line of stdout.split('\n')) {
    const [kind, ...rest] = line.split(' ');
    if (kind === 'W') {
      const [seq, from, count, term, hsTerm, hsCommit] = rest;
      const w: WriteLine = { seq: Number(seq), from: Number(from), count: Number(count), term: Number(term) };
      if (hsTerm !== '-') w.hardState = { term: Number(hsTerm), vote: 1, commit: Number(hsCommit) };
      assert.is(w.seq, lastSeq + 1, 'write lines are consecutive');
      lastSeq = w.seq;
      run.writes.push(w);
    } else if (kind === 'P') {
      const seq = Number(rest[0]);
      assert.ok(seq > run.lastPersisted, `persisted$ went backwards: ${seq} after ${run.lastPersisted}`);
      run.lastPersisted = seq;
    } else if (kind === 'C') {
      run.compactedTo = Number(rest[0]);
    }
  }
  assert.ok(run.lastPersisted <= lastSeq, 'persisted a write that was never submitted');
  return run;
}

/** A writer process started ahead of time: loaded, waiting for `go` before touching the directory. */
interface PreparedWriter {
  /** Lets the writer run and kills it once it has announced its `killAtWrite`-th write. */
  go(killAtWrite: number): Promise<ChildRun>;
  kill(): void;
}

/**
 * Starts a writer that waits for `go`. Starting Node with tsx costs most of a second, so the next
 * writers warm up while the current one runs and its directory is checked.
 */
function prepareWriter(dir: string, childSeed: number): PreparedWriter {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', writerScript, dir, String(childSeed)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killAt: number | undefined;
  let writesSeen = 0;
  let scanned = 0;
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (killAt === undefined) return;
    // Count whole write lines; kill at the seeded one, while the writes before it are in flight.
    for (let nl = stdout.indexOf('\n', scanned); nl >= 0; nl = stdout.indexOf('\n', scanned)) {
      if (stdout.startsWith('W ', scanned) && ++writesSeen === killAt) child.kill('SIGKILL');
      scanned = nl + 1;
    }
  });
  return {
    async go(killAtWrite) {
      killAt = killAtWrite;
      child.stdin!.end('go\n');
      const signal = await closed;
      return parse(stdout, stderr, signal);
    },
    kill() {
      child.stdin!.destroy(); // an open pipe to a dead process would keep this process alive
      child.kill('SIGKILL');
    },
  };
}

function applyWrite(model: LogModel, w: WriteLine): LogModel {
  const terms = model.terms.slice(0, Math.max(0, w.from - model.first));
  for (let k = 0; k < w.count; k++) terms.push(w.term);
  return { first: model.first, terms, hardState: w.hardState ?? model.hardState };
}

/** Writes that started inside the log they were appended to (tail overwrites). */
function countOverwrites(base: LogModel, writes: readonly WriteLine[]): number {
  let end = base.first + base.terms.length;
  let n = 0;
  for (const w of writes) {
    if (w.from < end) n++;
    end = w.from + w.count;
  }
  return n;
}

interface DiskLog {
  first: number;
  last: number;
  terms: number[];
  hardState: HardState;
}

/** Reads the whole log back, checking every entry's data against its index and term. */
async function readDisk(dir: string): Promise<DiskLog> {
  const storage = await DiskStorage.open(dir, { nodeId: 1 });
  try {
    const first = await storage.firstIndex();
    const last = await storage.lastIndex();
    const list = await storage.entries(first, last + 1);
    const terms: number[] = [];
    list.forEach((e, k) => {
      assert.is(e.index, first + k, 'entries in order');
      assert.equal([...e.data], [...dataFor(e.index, e.term)], `entry ${e.index} carries the data written for it`);
      terms.push(e.term);
    });
    return { first, last, terms, hardState: (await storage.initialState()).hardState };
  } finally {
    await storage.close();
  }
}

/** Whether the disk equals the model (above the disk's compaction point, which may have moved). */
function matches(disk: DiskLog, model: LogModel): boolean {
  const modelLast = model.first + model.terms.length - 1;
  if (disk.last !== modelLast) return false;
  if (disk.hardState.term !== model.hardState.term || disk.hardState.vote !== model.hardState.vote || disk.hardState.commit !== model.hardState.commit) {
    return false;
  }
  for (let i = disk.first; i <= disk.last; i++) {
    if (disk.terms[i - disk.first] !== model.terms[i - model.first]) return false;
  }
  return true;
}

test(`SIGKILL at seeded points never loses a persisted write nor leaves half of one (seed ${seed}, ${kills} kills)`, withReplay(replay, async () => {
  const random = seededRandom(seed);
  const dir = tempDir('crash-');
  let base: LogModel = { first: 1, terms: [], hardState: { term: 0, vote: 0, commit: 0 } };
  let totalWrites = 0;
  let truncations = 0;
  let killsWithWritesInFlight = 0;
  let maxLast = 0;
  const warming: PreparedWriter[] = [];
  let prepared = 0;
  const topUp = (): void => {
    while (warming.length < WARM_WRITERS && prepared < kills) warming.push(prepareWriter(dir.path, seed + ++prepared));
  };
  try {
    for (let kill = 1; kill <= kills; kill++) {
      topUp();
      const writer = warming.shift()!;
      topUp();
      // Mostly early kills (a write or two in), some deep into a run of group commits.
      const killAtWrite = random() < 0.3 ? 1 + Math.floor(random() * 3) : 2 + Math.floor(random() * 150);
      const run = await writer.go(killAtWrite);
      const where = `seed ${seed}, kill ${kill} (at write ${killAtWrite})`;
      assert.is(run.signal, 'SIGKILL', `the writer died on its own at ${where}: ${run.stderr}`);
      const disk = await readDisk(dir.path);

      // Compaction may or may not have happened before the kill; entries below it are gone either way.
      const allowedFirsts = [base.first, ...(run.compactedTo !== undefined ? [run.compactedTo + 1] : [])];
      assert.ok(allowedFirsts.includes(disk.first), `first index ${disk.first} at ${where}, expected one of ${allowedFirsts.join(', ')}`);

      // The disk must be the state after writes 1..k, for some k >= the last acknowledged one.
      let model = base;
      let matched = run.lastPersisted === 0 && matches(disk, model) ? 0 : -1;
      for (const w of run.writes) {
        model = applyWrite(model, w);
        if (w.seq >= run.lastPersisted && matches(disk, model)) {
          matched = w.seq;
          break;
        }
      }
      assert.ok(
        matched >= run.lastPersisted,
        `after ${where}: the disk (last index ${disk.last}, hard state ${JSON.stringify(disk.hardState)}) is not the state ` +
          `after any write from the last persisted one (${run.lastPersisted}) to the last submitted one (${run.writes.length})`,
      );
      totalWrites += run.writes.length;
      truncations += countOverwrites(base, run.writes);
      if (run.writes.length > run.lastPersisted) killsWithWritesInFlight++;
      maxLast = Math.max(maxLast, disk.last);
      base = { first: disk.first, terms: disk.terms, hardState: disk.hardState };
    }
    assert.ok(totalWrites > kills * 5, `the writer wrote too little to test anything (${totalWrites} writes)`);
    assert.ok(maxLast > 100, `the log never grew (${maxLast})`);
    assert.ok(truncations > 0, 'no write overwrote a tail');
    assert.ok(killsWithWritesInFlight > 0, 'no kill landed while writes were unacknowledged');
  } finally {
    for (const w of warming) w.kill();
    await new Promise((resolve) => setTimeout(resolve, 50));
    dir.remove();
  }
}));

test.run();
