/**
 * The two 3-member key-value services of scenario E, each as OS processes on loopback with its data
 * on disk (fsync on), and the requests the client load makes of each:
 * - the key-value example: `actor-raft node` (bin/actor-raft.mjs) and its HTTP API (src/kv);
 * - etcd (Debian `etcd-server`), through its HTTP/JSON gateway (`/v3/kv/put`, `/v3/kv/range`,
 *   linearizable reads by default).
 * Requests go to the leader in both, so neither pays a forwarding hop the other does not.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Agent } from 'node:http';
import { freePort } from './ipc.ts';
import { httpCall, keepAliveAgent, waitUntil } from './http-client.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));

export interface KvService {
  readonly name: string;
  /** Writes `value` under `key`; throws unless the service answered success. */
  put(agent: Agent, key: string, value: string): Promise<void>;
  /** A linearizable read of `key`; throws unless the service answered. */
  get(agent: Agent, key: string): Promise<void>;
  stop(): Promise<void>;
}

function stopProcesses(procs: ChildProcess[]): Promise<void> {
  return Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
          p.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          p.kill('SIGTERM');
        }),
    ),
  ).then(() => undefined);
}

/** True when an `etcd` binary is on the PATH. */
export function etcdInstalled(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Builds dist/ when a source changed (the CLI runs the compiled JavaScript). */
export function buildCli(): void {
  const r = spawnSync(process.execPath, [join(repo, 'scripts', 'build.mjs'), '--if-stale'], { stdio: 'inherit', cwd: repo });
  if (r.status !== 0) throw new Error('npm run build failed');
}

export async function startKvExample(): Promise<KvService> {
  const root = mkdtempSync(join(process.env.BENCH_DATA_DIR ?? tmpdir(), 'actor-raft-kv-'));
  const raft: string[] = [];
  const http: string[] = [];
  for (let i = 0; i < 3; i++) {
    raft.push(`127.0.0.1:${await freePort()}`);
    http.push(`127.0.0.1:${await freePort()}`);
  }
  const list = (a: string[]) => a.map((addr, i) => `${i + 1}=${addr}`).join(',');
  const env = { ...process.env, ACTOR_RAFT_SECRET: randomBytes(32).toString('hex') };
  const procs = http.map((h, i) =>
    spawn(
      process.execPath,
      [join(repo, 'bin', 'actor-raft.mjs'), 'node', '--id', String(i + 1), '--peers', list(raft), '--http', h, '--http-peers', list(http), '--data', join(root, String(i + 1)), '--initial-cluster-state', 'new', '--log-level', 'error'],
      { stdio: ['ignore', 'ignore', 'inherit'], env },
    ),
  );
  const probe = keepAliveAgent(4);
  const leaderHttp = await waitUntil('a leader of the key-value example', 60_000, async () => {
    for (const h of http) {
      const r = await httpCall(probe, 'GET', new URL(`http://${h}/status`)).catch(() => undefined);
      if (r?.status !== 200) continue;
      const s = JSON.parse(r.body) as { raftState: string };
      if (s.raftState === 'leader') return h;
    }
    return undefined;
  });
  probe.destroy();
  return {
    name: 'actor-raft KV example',
    async put(agent, key, value) {
      const r = await httpCall(agent, 'PUT', new URL(`http://${leaderHttp}/kv/${key}`), value);
      if (r.status !== 200) throw new Error(`PUT answered ${r.status}: ${r.body}`);
    },
    async get(agent, key) {
      const r = await httpCall(agent, 'GET', new URL(`http://${leaderHttp}/kv/${key}`));
      if (r.status !== 200) throw new Error(`GET answered ${r.status}: ${r.body}`);
    },
    async stop() {
      await stopProcesses(procs);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export async function startEtcd(): Promise<KvService> {
  const root = mkdtempSync(join(process.env.BENCH_DATA_DIR ?? tmpdir(), 'actor-raft-etcd-'));
  const peer: string[] = [];
  const client: string[] = [];
  for (let i = 0; i < 3; i++) {
    peer.push(`http://127.0.0.1:${await freePort()}`);
    client.push(`http://127.0.0.1:${await freePort()}`);
  }
  const initial = peer.map((u, i) => `e${i + 1}=${u}`).join(',');
  const procs = client.map((c, i) =>
    spawn(
      'etcd',
      ['--name', `e${i + 1}`, '--data-dir', join(root, `e${i + 1}`), '--listen-client-urls', c, '--advertise-client-urls', c, '--listen-peer-urls', peer[i]!, '--initial-advertise-peer-urls', peer[i]!, '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${process.pid}`, '--logger', 'zap', '--log-level', 'error'],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    ),
  );
  const probe = keepAliveAgent(4);
  const leaderUrl = await waitUntil('an etcd leader', 60_000, async () => {
    for (const c of client) {
      const r = await httpCall(probe, 'POST', new URL(`${c}/v3/maintenance/status`), '{}').catch(() => undefined);
      if (r?.status !== 200) continue;
      const s = JSON.parse(r.body) as { header?: { member_id?: string }; leader?: string };
      if (s.leader && s.leader !== '0' && s.leader === s.header?.member_id) return c;
    }
    return undefined;
  });
  probe.destroy();
  return {
    name: 'etcd',
    async put(agent, key, value) {
      const r = await httpCall(agent, 'POST', new URL(`${leaderUrl}/v3/kv/put`), JSON.stringify({ key: b64(key), value: b64(value) }));
      if (r.status !== 200) throw new Error(`etcd put answered ${r.status}: ${r.body}`);
    },
    async get(agent, key) {
      const r = await httpCall(agent, 'POST', new URL(`${leaderUrl}/v3/kv/range`), JSON.stringify({ key: b64(key) }));
      if (r.status !== 200) throw new Error(`etcd range answered ${r.status}: ${r.body}`);
    },
    async stop() {
      await stopProcesses(procs);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
