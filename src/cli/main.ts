/**
 * `actor-raft`: the command line of the replicated key-value example.
 *
 *   actor-raft node ...      one member: a RaftNode with the KV state machine and its HTTP API
 *   actor-raft cluster ...   a local cluster, one OS process per member, leader changes printed
 *   actor-raft member ...    list or change the members of a running cluster (its /members routes)
 *
 * Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on a bad command line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../actors/raft-node.ts';
import type { KvResult } from '../kv/kv-state-machine.ts';
import { DataRootLockedError, lockDataRoot } from './data-lock.ts';
import type { TransportTlsOptions } from '../io/tcp-transport.ts';
import { MemberIdentityError } from '../errors.ts';
import { jsonLogger, prettyLine } from '../io/json-logger.ts';
import { structuredLogger } from '../io/structured-logger.ts';
import { type ClusterCommand, type NodeCommand, USAGE, UsageError, isLoopbackAddress, parseCli } from './args.ts';
import { runMember } from './member.ts';
import { type ControlMessage, RunnerLink, type RunnerMessage } from './runner-link.ts';
import { Isolation, LinkProxy, freePort } from './link-proxy.ts';
import type { RunnerAnswer } from '../dashboard/dashboard-routes.ts';

// ----- actor-raft node -----

/**
 * TLS for the Raft connections from PEM files: every member presents its certificate and requires
 * one signed by the CA from its peers (mutual TLS); the cluster secret is still checked inside.
 */
function raftTls(cmd: NodeCommand): TransportTlsOptions | undefined {
  if (!cmd.tls) return undefined;
  const cert = readFileSync(cmd.tls.cert);
  const key = readFileSync(cmd.tls.key);
  const ca = readFileSync(cmd.tls.ca);
  return { server: { cert, key, ca, requestCert: true, rejectUnauthorized: true }, client: { cert, key, ca } };
}

async function runNode(cmd: NodeCommand): Promise<number> {
  // Structured records (member, term, event): JSON lines, or pretty text on a terminal.
  const sink = jsonLogger({ level: cmd.logLevel, format: cmd.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json') });
  let termNow: () => number | undefined = () => undefined;
  const log = structuredLogger(sink, { member: cmd.id, term: () => termNow() });
  let fatal: string | undefined;
  let shutdown: (reason: string, code: number) => void = () => {};
  // The library's own logger: its "leader changed" line is replaced by ours (which names the HTTP address).
  const libLog: Logger = {
    ...log,
    info: (m, f) => (m === 'leader changed' ? log.debug(m, f) : log.info(m, f)),
    error: (m, f) => {
      log.error(m, f);
      if (m.startsWith('fatal error')) {
        fatal = m;
        queueMicrotask(() => shutdown('fatal error', 1));
      }
    },
  };
  // Loaded here, not at the top: `actor-raft cluster` (the runner) then starts without the library.
  const [{ createNode }, { KV_MAX_SIZE_PER_MSG, createKvHttpServer }, { KvStateMachine, encodeCommand }, { DashboardRoutes }, { MemberFeed }] = await Promise.all([
    import('../actors/raft-node.ts'),
    import('../kv/kv-http-server.ts'),
    import('../kv/kv-state-machine.ts'),
    import('../dashboard/dashboard-routes.ts'),
    import('../dashboard/member-feed.ts'),
  ]);
  const kv = new KvStateMachine();
  // The dashboard's view of this member: its role changes with their causes come from inspection.
  const feed = new MemberFeed(cmd.id);
  const node = createNode<KvResult>(
    {
      nodeId: cmd.id,
      peers: cmd.peers.map((p) => ({ ...p })),
      dataDir: cmd.dataDir,
      tickInterval: cmd.tickMs,
      maxSizePerMsg: KV_MAX_SIZE_PER_MSG, // room for a 1 MiB value, the documented body cap
      electionTick: cmd.electionTick,
      heartbeatTick: cmd.heartbeatTick,
      disableProposalForwarding: cmd.disableForwarding,
    },
    kv,
    { secret: cmd.secret, clusterId: cmd.clusterId, listen: cmd.listen, logger: libLog, initialClusterState: cmd.initialClusterState, join: cmd.join, tls: raftTls(cmd), ...(cmd.frameCipher ? { frameCipher: cmd.frameCipher } : {}), inspect: feed.inspect },
  );
  feed.attach(node);
  termNow = () => node.status().term;
  const runner = new RunnerLink(cmd.httpPeers);
  const dashboard = new DashboardRoutes({
    node,
    feed,
    httpPeers: () => runner.httpPeers,
    scheme: cmd.httpTls ? 'https' : 'http',
    runner,
    write: (i, signal) => node.propose(encodeCommand({ op: 'put', key: `burst/${i}`, value: new Date().toISOString() }), { signal }),
  });
  const http = createKvHttpServer({
    node,
    kv,
    httpPeers: runner.httpPeers,
    requestTimeoutMs: cmd.requestTimeoutMs,
    dashboard,
    token: cmd.httpToken,
    tls: cmd.httpTls
      ? { cert: readFileSync(cmd.httpTls.cert), key: readFileSync(cmd.httpTls.key), ...(cmd.httpTls.ca === undefined ? {} : { ca: readFileSync(cmd.httpTls.ca) }) }
      : undefined,
  });
  if (!cmd.httpToken && !isLoopbackAddress(cmd.http)) {
    log.warn('the HTTP API listens on a non-loopback address without a token (--http-insecure): anyone who reaches it can read, write and delete', { http: cmd.http });
  }

  let stopping: Promise<number> | undefined;
  let exitCode = 0;
  const done = new Promise<number>((resolveDone) => {
    shutdown = (reason, code) => {
      if (stopping) return;
      exitCode = code;
      log.info('stopping', { reason });
      // A stop that hangs must not keep the process alive forever.
      const force = setTimeout(() => {
        log.error('graceful stop took longer than 10 s; exiting');
        resolveDone(1);
      }, 10_000);
      force.unref();
      stopping = (async () => {
        const closing = http.close();
        setTimeout(() => http.server.closeAllConnections(), 2000).unref();
        await node.stop();
        await closing;
        clearTimeout(force);
        log.info('stopped');
        return exitCode;
      })();
      stopping.then(resolveDone, (err: Error) => {
        log.error('stop failed', { error: err.message });
        resolveDone(1);
      });
    };
  });
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  // Started by `actor-raft cluster` (or a test) over an IPC channel: leave when the parent goes.
  if (process.send) process.on('disconnect', () => shutdown('the parent process exited', 0));

  try {
    await node.start();
    await http.listen(cmd.http);
  } catch (err) {
    log.error('could not start', { error: (err as Error).message });
    await node.stop().catch(() => {});
    await http.close().catch(() => {});
    return 1;
  }
  // Identity refusals are logged by the node itself, once, with the fix; no second line here.
  node.errors$.subscribe((err) => {
    if (!(err instanceof MemberIdentityError)) log.warn('node error', { error: err.message });
  });
  let lastLead = 0;
  node.state$.subscribe((s) => {
    if (s.lead === 0 || s.lead === lastLead) return;
    lastLead = s.lead;
    const httpAddr = cmd.httpPeers.get(s.lead);
    log.info(s.lead === cmd.id ? 'leader changed: this node leads' : `leader changed: node ${s.lead}`, {
      leader: s.lead,
      role: s.raftState,
      term: node.status().term,
      ...(httpAddr ? { leaderHttp: `${http.scheme}://${httpAddr}` } : {}),
    });
  });
  log.info('ready', {
    raft: cmd.listen ?? cmd.peers.find((p) => p.id === cmd.id)!.address,
    http: `${http.scheme}://${http.address()}`,
    dashboard: `${http.scheme}://${http.address()}/dashboard`,
    data: cmd.dataDir || '(memory)',
    members: cmd.peers.length,
  });
  process.send?.({ type: 'ready', id: cmd.id, http: http.address() });
  const code = await done;
  if (fatal) return 1;
  return code;
}

// ----- actor-raft cluster -----

/** A member's JSON log line as pretty text for the runner's terminal (other lines as they are). */
function readableLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    return prettyLine(JSON.parse(line) as Record<string, unknown>);
  } catch {
    return line;
  }
}

interface Member {
  readonly id: number;
  readonly raft: string;
  readonly http: string;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  exited: boolean;
  /** Said it was ready (over IPC) in its current life. */
  up: boolean;
  /** Was ready at least once: later starts are restarts. */
  everUp: boolean;
  /** Restarted and not yet caught up: the runner reports when it is. */
  rejoining: boolean;
  /** The leader's commit index when the rejoining member was first seen up. */
  rejoinTarget: number | undefined;
  /** Where the member really binds its Raft port: its advertised address is the runner's proxy (link-proxy.ts). */
  listen?: string;
  /** Added from the dashboard: starts with --join. */
  joining?: boolean;
  /** Removed from the dashboard: stopped and never restarted. */
  retired?: boolean;
}

interface ClusterFile {
  readonly nodes: number;
  readonly clusterId: string;
}

/** The secret of a local cluster: generated once, kept in `<data>/cluster-secret` (mode 0600). */
function clusterSecret(dataDir: string, name = 'cluster-secret'): string {
  const file = join(dataDir, name);
  if (existsSync(file)) {
    const s = readFileSync(file, 'utf8').trim();
    if (s) return s;
  }
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}

function fetchStatus(address: string, timeoutMs: number, token?: string): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolveStatus) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = httpGet(`http://${address}/status`, { timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolveStatus(res.statusCode === 200 ? (JSON.parse(body) as Record<string, unknown>) : undefined);
        } catch {
          resolveStatus(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(undefined));
  });
}

/** Seconds since this process started (so the count includes Node's own start-up), for progress lines. */
const sinceStart = () => `${(performance.now() / 1000).toFixed(1)} s`;

async function runCluster(cmd: ClusterCommand): Promise<number> {
  const dataDir = resolve(cmd.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Before anything else is read or written: a second runner on the same data refuses here.
  let release: () => void;
  try {
    release = lockDataRoot(dataDir, cmd.dataDir);
  } catch (err) {
    if (!(err instanceof DataRootLockedError)) throw err;
    process.stderr.write(`actor-raft: ${err.message}\n`);
    return 1;
  }
  process.on('exit', release);
  try {
    return await runLockedCluster(cmd, dataDir);
  } finally {
    release();
  }
}

async function runLockedCluster(cmd: ClusterCommand, dataDir: string): Promise<number> {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const clusterFile = join(dataDir, 'cluster.json');
  if (existsSync(clusterFile)) {
    const prev = JSON.parse(readFileSync(clusterFile, 'utf8')) as ClusterFile;
    if (prev.nodes !== cmd.nodes || prev.clusterId !== cmd.clusterId) {
      throw new UsageError(
        `${cmd.dataDir} holds a ${prev.nodes}-member cluster "${prev.clusterId}"; run with --nodes ${prev.nodes} --cluster-id ${prev.clusterId}, or remove ${cmd.dataDir} to start a new one`,
      );
    }
  } else {
    writeFileSync(clusterFile, JSON.stringify({ nodes: cmd.nodes, clusterId: cmd.clusterId } satisfies ClusterFile) + '\n');
  }
  const secret = clusterSecret(dataDir);
  // Members reachable from other machines get an HTTP token (kept like the secret); loopback needs none.
  const httpToken = isLoopbackAddress(`${cmd.host.includes(':') && !cmd.host.startsWith('[') ? `[${cmd.host}]` : cmd.host}:1`)
    ? undefined
    : clusterSecret(dataDir, 'http-token');
  const resumed = existsSync(join(dataDir, '1'));
  const members: Member[] = [];
  const hostPart = cmd.host.includes(':') && !cmd.host.startsWith('[') ? `[${cmd.host}]` : cmd.host;
  for (let i = 1; i <= cmd.nodes; i++) {
    members.push({ id: i, raft: `${hostPart}:${cmd.basePort + i - 1}`, http: `${hostPart}:${cmd.httpBasePort + i - 1}`, dataDir: join(dataDir, String(i)), child: undefined, exited: false, up: false, everUp: false, rejoining: false, rejoinTarget: undefined });
  }
  // Read at each launch: members added from the dashboard join the lists.
  const current = () => members.filter((m) => !m.retired);
  // Raft traffic passes through one proxy per member, so the dashboard can partition and heal.
  const isolation = new Isolation();
  const proxies = new Map<number, LinkProxy>();
  const proxyFor = async (m: Member): Promise<void> => {
    const port = await freePort(cmd.host);
    m.listen = `${hostPart}:${port}`;
    const proxy = new LinkProxy(m.id, { host: cmd.host, port }, isolation);
    await proxy.listen(cmd.host, Number(m.raft.slice(m.raft.lastIndexOf(':') + 1)));
    proxies.set(m.id, proxy);
  };
  try {
    for (const m of members) await proxyFor(m);
  } catch (err) {
    await Promise.all([...proxies.values()].map((p) => p.close()));
    process.stderr.write(`actor-raft: cannot listen on the Raft ports ${cmd.basePort}..${cmd.basePort + cmd.nodes - 1}: ${(err as Error).message}\n`);
    return 1;
  }
  const peerList = () => current().map((m) => `${m.id}=${m.raft}`).join(',');
  const httpPeerList = () => current().map((m) => `${m.id}=${m.http}`).join(',');
  let stopping = false;
  let allExited: () => void = () => {};
  const finished = new Promise<void>((r) => (allExited = r));
  const self = fileURLToPath(import.meta.url);
  // Compiled (dist/cli/main.js): members run plain JavaScript. From sources (tests, development): through tsx.
  const loader = self.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  const keys = process.stdin.isTTY === true;
  const restartHint = (id: number) => (keys && cmd.nodes <= 9 ? `press ${id} to restart it` : `type ${id} and Enter to restart it`);
  const logOf = (m: Member) => join(cmd.dataDir, `node-${m.id}.log`);

  /** Starts member `m` as an OS process; its stdout goes to its log file, its stderr also to ours. */
  const launch = (m: Member): ChildProcess => {
    const logStream = createWriteStream(join(dataDir, `node-${m.id}.log`), { flags: 'a' });
    const child = spawn(
      process.execPath,
      [
        ...loader, self, 'node',
        '--id', String(m.id),
        '--peers', peerList(),
        ...(m.listen ? ['--listen', m.listen] : []),
        '--http', m.http,
        '--http-peers', httpPeerList(),
        '--data', m.dataDir,
        '--cluster-id', cmd.clusterId,
        '--tick', String(cmd.tickMs),
        '--log-level', cmd.logLevel,
        '--log-format', 'json',
        // First run: every member's directory is new, so they found the cluster together. Later runs
        // resume; a member whose directory went missing is then refused instead of silently re-founding.
        ...(m.joining ? ['--join'] : resumed ? [] : ['--initial-cluster-state', 'new']),
      ],
      { env: { ...process.env, ACTOR_RAFT_SECRET: secret, ...(httpToken ? { ACTOR_RAFT_HTTP_TOKEN: httpToken } : {}) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    m.child = child;
    m.exited = false;
    m.up = false;
    child.stdout!.pipe(logStream);
    let errBuf = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      logStream.write(chunk);
      errBuf += chunk.toString('utf8');
      let nl: number;
      while ((nl = errBuf.indexOf('\n')) >= 0) {
        process.stderr.write(`[node ${m.id}] ${readableLine(errBuf.slice(0, nl))}\n`);
        errBuf = errBuf.slice(nl + 1);
      }
    });
    child.on('message', (msg: { type?: string }) => {
      if (msg?.type === 'control') return void dashboardControl(m, msg as ControlMessage);
      if (msg?.type !== 'ready' || stopping) return;
      m.up = true;
      announceRunner(m);
      if (m.everUp) {
        out(`node ${m.id} is up again (pid ${child.pid}); catching up...`);
      } else {
        m.everUp = true;
        out(`  node ${m.id} up after ${sinceStart()}`);
        if (members.every((x) => x.everUp) && lastLeader === undefined) out(`all ${members.length} members up; waiting for a leader...`);
      }
    });
    child.on('exit', (code, signal) => {
      if (m.child !== child) return;
      m.exited = true;
      m.up = false;
      m.rejoining = false;
      if (m.retired) {
        out(`${new Date().toISOString()} node ${m.id} stopped (removed from the cluster)`);
        if (members.every((x) => x.exited) && stopping) allExited();
        return;
      }
      if (!stopping) out(`${new Date().toISOString()} node ${m.id} exited unexpectedly (${signal ?? `code ${code}`}); ${restartHint(m.id)} (log: ${logOf(m)})`);
      if (!members.every((x) => x.exited)) return;
      if (stopping) allExited();
      else if (!members.some((x) => x.everUp)) {
        out('every member exited before it was up; see the logs above');
        failedAtStart = true;
        allExited();
      } else out(`every member has exited; ${keys && cmd.nodes <= 9 ? 'press' : 'type'} a member's number to restart it, or Ctrl-C to quit`);
    });
    logStream.on('error', () => {});
    return child;
  };

  /** A restart request from the keyboard (or a line on stdin). */
  const restart = (word: string) => {
    if (stopping || word === '') return;
    const r = restartMember(word);
    out(r.ok ? `${new Date().toISOString()} ${r.message}` : r.message);
  };

  /** Starts a member that exited again, on its data. */
  const restartMember = (word: string): { ok: boolean; message: string } => {
    const m = members.find((x) => String(x.id) === word && !x.retired);
    if (!m) return { ok: false, message: `no member ${JSON.stringify(word)}; the members are ${current().map((x) => x.id).join(', ')}` };
    if (!m.exited) return { ok: false, message: `node ${m.id} is running (pid ${m.child?.pid}); nothing to restart` };
    const child = launch(m);
    m.rejoining = true;
    m.rejoinTarget = undefined;
    return { ok: true, message: `restarting node ${m.id} (pid ${child.pid}) on its data in ${join(cmd.dataDir, String(m.id))}` };
  };

  /** Tells a member it runs under this runner (its dashboard offers the runner's controls) and where everyone's HTTP is. */
  const announceRunner = (m: Member) => {
    if (m.child?.connected) m.child.send({ type: 'runner', httpPeers: current().map((x) => [x.id, x.http] as const) } satisfies RunnerMessage);
  };

  /** A control from a member's dashboard (src/dashboard/dashboard-routes.ts): answered over IPC. */
  const dashboardControl = (from: Member, msg: ControlMessage) => {
    const answer = (a: RunnerAnswer) => {
      if (from.child?.connected) from.child.send({ type: 'control-answer', seq: msg.seq, answer: a } satisfies RunnerMessage);
      if (a.ok) out(`${new Date().toISOString()} dashboard (via node ${from.id}): ${a.message}`);
    };
    if (stopping) return answer({ ok: false, message: 'the cluster is stopping' });
    const req = msg.request;
    const m = 'id' in req ? members.find((x) => x.id === req.id && !x.retired) : undefined;
    if ('id' in req && !m) return answer({ ok: false, message: `no member ${req.id}` });
    switch (req.action) {
      case 'kill':
        if (m!.exited || !m!.child) return answer({ ok: false, message: `node ${m!.id} is not running` });
        m!.child.kill('SIGKILL');
        return answer({ ok: true, message: `killed node ${m!.id} (pid ${m!.child.pid}) with SIGKILL` });
      case 'restart':
        return answer(restartMember(String(m!.id)));
      case 'partition':
        isolation.isolate(m!.id);
        for (const p of proxies.values()) p.enforce();
        return answer({ ok: true, message: `node ${m!.id} is cut off from the others (isolated: ${isolation.members.join(', ')}); heal to reconnect` });
      case 'heal':
        if (isolation.members.length === 0) return answer({ ok: false, message: 'nothing to heal: no member is partitioned' });
        isolation.heal();
        return answer({ ok: true, message: 'healed: every member can reach every other again' });
      case 'allocate': {
        const id = Math.max(...members.map((x) => x.id)) + 1;
        if (cmd.basePort + id - 1 > 65535 || cmd.httpBasePort + id - 1 > 65535) return answer({ ok: false, message: 'no ports left for another member' });
        const added: Member = { id, raft: `${hostPart}:${cmd.basePort + id - 1}`, http: `${hostPart}:${cmd.httpBasePort + id - 1}`, dataDir: join(dataDir, String(id)), child: undefined, exited: true, up: false, everUp: false, rejoining: false, rejoinTarget: undefined, joining: true };
        members.push(added);
        return answer({ ok: true, message: `member ${id} will use raft ${added.raft}, http ${added.http}`, member: { id, raft: added.raft, http: added.http } });
      }
      case 'launch': {
        if (!m!.exited) return answer({ ok: false, message: `node ${m!.id} is running` });
        if (!proxies.has(m!.id)) {
          proxyFor(m!).then(
            () => dashboardControl(from, msg),
            (err: Error) => answer({ ok: false, message: `cannot listen on ${m!.raft}: ${err.message}` }),
          );
          return;
        }
        const child = launch(m!);
        for (const x of current()) if (x !== m && x.up) announceRunner(x);
        return answer({ ok: true, message: `started node ${m!.id} (pid ${child.pid}) to join the cluster; data in ${join(cmd.dataDir, String(m!.id))}` });
      }
      case 'retire':
        m!.retired = true;
        if (!m!.exited) m!.child?.kill('SIGTERM');
        for (const x of current()) if (x.up) announceRunner(x);
        return answer({ ok: true, message: `node ${m!.id} was removed; stopping its process` });
    }
  };

  let failedAtStart = false;
  let lastLeader: number | undefined;
  out(`actor-raft: ${resumed ? 'resuming' : 'starting'} a ${cmd.nodes}-member cluster "${cmd.clusterId}" in ${cmd.dataDir}`);
  for (const m of members) {
    const child = launch(m);
    out(`  node ${m.id}  pid ${child.pid}  http://${m.http}  raft ${m.raft}  log ${logOf(m)}`);
  }
  out(`dashboard: http://${members[0]!.http}/dashboard   (live view of every member; kill, restart, writes, leadership, membership)`);
  const auth = httpToken ? `-H "Authorization: Bearer $(cat ${join(cmd.dataDir, 'http-token')})" ` : '';
  if (httpToken) out(`the HTTP API is reachable from other machines: every request needs the token in ${join(cmd.dataDir, 'http-token')}`);
  out(`try:  curl ${auth}-X PUT --data hello http://${members[0]!.http}/kv/greeting   then   curl ${auth}http://${members[members.length - 1]!.http}/kv/greeting`);
  out(`kill -9 a member's pid to watch another one take over; ${keys && cmd.nodes <= 9 ? 'press its number' : "type its number and Enter"} to restart it. Ctrl-C stops the cluster; running it again resumes from the same data.`);
  out('starting the members...');

  // Keys (a terminal) or lines (a pipe): a member's number restarts it.
  let closeInput = () => {};
  if (keys) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    let typed = '';
    process.stdin.on('data', (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\u0003') stopAll('SIGINT'); // raw mode: Ctrl-C arrives as a key
        else if (ch >= '0' && ch <= '9' && cmd.nodes <= 9) restart(ch);
        else if (ch >= '0' && ch <= '9') typed += ch;
        else if (ch === '\r' || ch === '\n') {
          restart(typed);
          typed = '';
        }
      }
    });
    closeInput = () => {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    };
  } else {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => restart(line.trim()));
    closeInput = () => lines.close();
  }

  // Watch the leader: poll every member's /status and report changes and rejoins.
  let lastTerm = 0;
  let noLeaderSince = 0;
  const poll = setInterval(async () => {
    if (stopping) return;
    const live = current();
    const statuses = await Promise.all(live.map((m) => (m.exited ? undefined : fetchStatus(m.http, 1000, httpToken))));
    if (stopping) return;
    let leader: { id: number; term: number; commit: number } | undefined;
    for (const s of statuses) {
      if (s && s.raftState === 'leader' && typeof s.term === 'number' && (!leader || s.term > leader.term)) leader = { id: s.id as number, term: s.term, commit: s.commit as number };
    }
    if (leader) {
      noLeaderSince = 0;
      if (leader.id !== lastLeader || leader.term !== lastTerm) {
        const m = members.find((x) => x.id === leader!.id)!;
        const up = statuses.filter(Boolean).length;
        out(`${new Date().toISOString()} leader: node ${leader.id} (http://${m.http}), term ${leader.term}, ${up}/${live.length} members up${lastLeader === undefined ? ` — elected ${sinceStart()} after the command started` : ''}`);
        lastLeader = leader.id;
        lastTerm = leader.term;
      }
      live.forEach((m, i) => {
        const s = statuses[i];
        if (!m.rejoining || !m.up || !s) return;
        m.rejoinTarget ??= leader!.commit;
        if (typeof s.lead === 'number' && s.lead !== 0 && typeof s.applied === 'number' && s.applied >= m.rejoinTarget) {
          m.rejoining = false;
          const role = s.lead === s.id ? 'leads' : `follows node ${s.lead}`;
          out(`${new Date().toISOString()} node ${m.id} rejoined: ${role} in term ${String(s.term)}, applied up to ${s.applied} (leader's commit was ${m.rejoinTarget})`);
        }
      });
    } else if (lastLeader !== 0) {
      noLeaderSince ||= Date.now();
      if (Date.now() - noLeaderSince > 1000 && lastLeader !== undefined) {
        out(`${new Date().toISOString()} no leader right now (election in progress or no majority up)`);
        lastLeader = 0;
      }
    }
  }, 200);

  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) {
      out('stopping again: killing the members now');
      for (const m of members) if (!m.exited) m.child?.kill('SIGKILL');
      return;
    }
    stopping = true;
    clearInterval(poll);
    out(`\n${signal}: stopping the cluster (Ctrl-C again to kill at once)`);
    for (const m of members) if (!m.exited) m.child?.kill('SIGTERM');
    if (members.every((m) => m.exited)) allExited();
    setTimeout(() => {
      for (const m of members) if (!m.exited) m.child?.kill('SIGKILL');
    }, 15_000).unref();
  };
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));

  await finished;
  clearInterval(poll);
  closeInput();
  await Promise.all([...proxies.values()].map((p) => p.close()));
  if (failedAtStart) return 1;
  out('cluster stopped; data kept in ' + cmd.dataDir);
  return 0;
}

// ----- entry point -----

/** The version in the package's package.json (two levels up from src/cli/ and from dist/cli/). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: readonly string[]): Promise<number> {
  let cmd;
  try {
    cmd = parseCli(argv, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`actor-raft: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    switch (cmd.command) {
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      case 'version':
        process.stdout.write(`actor-raft ${packageVersion()}\n`);
        return 0;
      case 'node':
        return await runNode(cmd);
      case 'cluster':
        return await runCluster(cmd);
      case 'member':
        return await runMember(cmd, (t) => process.stdout.write(t), (t) => process.stderr.write(t));
      case 'secret':
        // 256 bits of randomness, hex: twice the minimum a secret must carry.
        process.stdout.write(`${randomBytes(32).toString('hex')}\n`);
        return 0;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`actor-raft: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`actor-raft: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`actor-raft: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
