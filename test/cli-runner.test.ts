/**
 * `actor-raft cluster`, the runner behind `npm start`, as a user meets it: a banner with every
 * member's PID and HTTP address (both real), progress lines up to the first leader, a member killed
 * with SIGKILL and restarted by typing its number, shown rejoining; a second runner on the same data
 * refuses at once and disturbs nothing; Ctrl-C stops everything and releases the data root.
 * Real OS processes on loopback, run from the sources.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePortRange } from './fixtures/port-range.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function childEnv(): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _f, NO_COLOR: _n, ...env } = process.env;
  return env;
}

function getJson(address: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}${path}`, { agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A runner process and everything it printed. */
class Runner {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (this.out += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.err += c));
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }
  /** Waits until stdout matches `re` (after `from` characters); throws with the output after `ms`. */
  async waitFor(re: RegExp, what: string, ms = 60_000, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the runner printed:\n${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function startRunner(args: string[]): Runner {
  return new Runner(spawn(process.execPath, ['--import', TSX, MAIN, 'cluster', ...args], { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] }));
}

test('--version prints the package version', () => {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, '--version'], { env: childEnv(), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), `actor-raft ${VERSION}`);
});

test('npm start: banner with real PIDs and HTTP addresses; a second runner refuses; a killed member restarts by its number and rejoins', async () => {
  const root = mkdtempSync(join(tmpdir(), 'actor-raft-runner-'));
  const data = join(root, 'data');
  const basePort = await freePortRange(3);
  const httpBasePort = await freePortRange(3, [basePort]);
  const args = ['--data', data, '--base-port', String(basePort), '--http-base-port', String(httpBasePort), '--tick', '50'];
  const a = startRunner(args);
  const pids: number[] = [];
  try {
    await a.waitFor(/leader: node \d+ .*elected [\d.]+ s after the command started/, 'the first leader line');
    assert.match(a.out, /starting the members\.\.\./);
    assert.ok((a.out.match(/^ {2}node \d+ up after [\d.]+ s$/gm) ?? []).length >= 2, `progress lines for a majority of members:\n${a.out}`);
    const banner = [...a.out.matchAll(/^ {2}node (\d+) {2}pid (\d+) {2}http:\/\/(\S+) {2}raft (\S+)/gm)];
    assert.equal(banner.map((m) => Number(m[1])), [1, 2, 3], a.out);
    for (const [, id, pid, http] of banner) {
      pids.push(Number(pid));
      assert.ok(alive(Number(pid)), `node ${id}: pid ${pid} in the banner is not running`);
      const status = await getJson(http!, '/status');
      assert.is(status.body.id, Number(id), `http://${http} in the banner is not node ${id}`);
    }

    // A second runner on the same data: refuses at once, touches nothing, disturbs nothing.
    const files = ['cluster.lock', 'cluster.json', 'cluster-secret'].map((f) => join(data, f));
    const before = files.map((f) => [readFileSync(f, 'utf8'), statSync(f).mtimeMs]);
    const b = startRunner(args);
    const code = await b.exited;
    assert.is(code, 1, b.out + b.err);
    assert.match(b.err, new RegExp(`is in use by another "actor-raft cluster" \\(pid ${a.child.pid}\\)`));
    assert.not.match(b.out, /leader|node \d+ {2}pid/, 'the second runner reported nothing of its own');
    assert.equal(files.map((f) => [readFileSync(f, 'utf8'), statSync(f).mtimeMs]), before, 'the second runner changed the data root');
    for (const pid of pids) assert.ok(alive(pid), `member pid ${pid} died when the second runner tried`);

    // Kill member 3; the runner says how to bring it back; typing "3" does, and it rejoins.
    const mark = a.out.length;
    process.kill(pids[2]!, 'SIGKILL');
    await a.waitFor(/node 3 exited unexpectedly \(SIGKILL\); type 3 and Enter to restart it/, 'the exit line with the restart hint', 30_000, mark);
    a.child.stdin!.write('3\n');
    const restarted = await a.waitFor(/restarting node 3 \(pid (\d+)\)/, 'the restart line', 30_000, mark);
    await a.waitFor(/node 3 rejoined: (leads|follows node \d+) in term \d+, applied up to \d+/, 'the rejoin line', 60_000, mark);
    const newPid = Number(restarted[1]);
    assert.ok(newPid !== pids[2] && alive(newPid));
    pids.push(newPid);
    const health = await getJson(`127.0.0.1:${httpBasePort + 2}`, '/health');
    assert.is(health.status, 200, JSON.stringify(health.body));

    // Ctrl-C: everything stops, the data root is released.
    a.child.kill('SIGINT');
    assert.is(await a.exited, 0, a.out + a.err);
    assert.match(a.out, /cluster stopped; data kept in /);
    assert.not.ok(existsSync(join(data, 'cluster.lock')), 'the lock outlived the runner');
    for (const pid of [pids[0]!, pids[1]!, newPid]) assert.not.ok(alive(pid), `member pid ${pid} outlived the runner`);
  } finally {
    a.child.kill('SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
