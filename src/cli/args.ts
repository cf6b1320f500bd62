/**
 * Command-line parsing and validation for `actor-raft`, as a pure function: argv and environment
 * in, a validated command (or a UsageError with a message for the user) out. No I/O, no exit.
 */
import { parseArgs } from 'node:util';
import { canonicalAddress, isValidAddress, validateSecret } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { FRAME_CIPHERS, type FrameCipherName } from '../io/frame-cipher.ts';

/** A bad command line. The CLI prints `message` and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface NodeCommand {
  readonly command: 'node';
  readonly id: number;
  readonly peers: readonly { id: number; address: string }[];
  /** Raft listen address (defaults to this node's address in peers). */
  readonly listen: string | undefined;
  /** Data directory; '' with --memory. */
  readonly dataDir: string;
  readonly http: string;
  readonly httpPeers: ReadonlyMap<number, string>;
  readonly secret: string | undefined;
  readonly clusterId: string;
  readonly tickMs: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly disableForwarding: boolean;
  readonly requestTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** JSON lines or pretty text; undefined: pretty on a terminal, JSON lines otherwise. */
  readonly logFormat: 'json' | 'pretty' | undefined;
  /** What an empty data directory may do: found the cluster ('new') or nothing ('existing'). */
  readonly initialClusterState: 'new' | 'existing';
  /** Join a running cluster that already added this member (`actor-raft member add`). */
  readonly join: boolean;
  /** TLS for Raft connections: PEM file paths (all three, or none). */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
  /** How frames between members are protected (--frame-cipher); undefined: the library's default. */
  readonly frameCipher: FrameCipherName | undefined;
  /** Bearer token the HTTP API requires (from --http-token or ACTOR_RAFT_HTTP_TOKEN). */
  readonly httpToken: string | undefined;
  /**
   * Serve the HTTP API over HTTPS with these PEM files. `ca`, when given, is what the leader's
   * certificate must chain to when a follower relays a membership request; without it the
   * member's own certificate is trusted (one self-signed certificate shared by the cluster).
   */
  readonly httpTls: { readonly cert: string; readonly key: string; readonly ca?: string } | undefined;
}

export interface SecretCommand {
  readonly command: 'secret';
}

export interface ClusterCommand {
  readonly command: 'cluster';
  readonly nodes: number;
  readonly dataDir: string;
  readonly host: string;
  readonly basePort: number;
  readonly httpBasePort: number;
  readonly clusterId: string;
  readonly tickMs: number;
  readonly logLevel: LogLevel;
}

export interface HelpCommand {
  readonly command: 'help';
  readonly text: string;
}

/** `actor-raft member list|add|remove|promote|transfer`: a client of a running cluster's admin routes. */
export type MemberCommand = {
  readonly command: 'member';
  /** HTTP API base URLs (`http://host:port`), tried in order until one answers. */
  readonly endpoints: readonly string[];
  /** How long to keep retrying answers that prove nothing was changed (no leader, change in progress). */
  readonly timeoutMs: number;
  /** Print the server's JSON instead of a table. */
  readonly json: boolean;
} & (
  | { readonly action: 'list'; readonly stale: boolean }
  | { readonly action: 'add'; readonly id: number; readonly address: string; readonly learner: boolean }
  | { readonly action: 'remove' | 'promote' | 'transfer'; readonly id: number }
);

export interface VersionCommand {
  readonly command: 'version';
}

export type CliCommand = NodeCommand | ClusterCommand | MemberCommand | HelpCommand | VersionCommand | SecretCommand;

/** Longest --cluster-id: the handshake refuses longer ones. */
export const MAX_CLUSTER_ID_LENGTH = 256;

export const USAGE = `actor-raft: a replicated key-value store on the actor-raft Raft library

Usage:
  actor-raft node --id N --peers ID=HOST:PORT,... --http HOST:PORT (--data DIR | --memory) [options]
      Runs one cluster member (one per machine in a real deployment).
      --id N                 this member's id (must appear in --peers)
      --peers LIST           every member's Raft address: 1=10.0.0.1:7001,2=10.0.0.2:7001,...
      --listen HOST:PORT     Raft address to bind when it differs from ours in --peers
      --data DIR             where the Raft log and state are kept (created if missing)
      --memory               keep everything in memory instead (lost on exit; demos only)
      --http HOST:PORT       address of this member's HTTP API
      --http-peers LIST      every member's HTTP address (id=host:port,...), to point clients at the leader
      --secret S             shared cluster secret (prefer the ACTOR_RAFT_SECRET environment variable;
                             required when there is more than one member; at least 128 bits:
                             make one with "actor-raft secret")
      --tls-cert FILE        TLS for Raft connections: this member's certificate (PEM) ...
      --tls-key FILE         ... its private key (PEM) ...
      --tls-ca FILE          ... and the CA that signed every member's certificate (all three or none)
      --frame-cipher MODE    how frames between members are protected: aes-256-gmac (default,
                             authenticated), hmac-sha256, chacha20-poly1305 or aes-256-gcm (also
                             encrypted), none (only with --tls-*); the same on every member
      --http-token T         require "Authorization: Bearer T" on every HTTP request (prefer the
                             ACTOR_RAFT_HTTP_TOKEN environment variable); required when --http is
                             not a loopback address, unless --http-insecure
      --http-insecure        serve a non-loopback --http address without a token (anyone who can
                             reach it can read, write and delete)
      --http-tls-cert FILE   serve the HTTP API over HTTPS with this certificate (PEM) ...
      --http-tls-key FILE    ... and this private key (PEM)
      --http-tls-ca FILE     CA (PEM) the leader's HTTPS certificate must chain to when a follower
                             relays a membership request (default: this member's own certificate,
                             for a cluster sharing one self-signed certificate)
      --cluster-id X         cluster name; members of other clusters are refused (default actor-raft)
      --tick MS              milliseconds per Raft tick (default 100)
      --election-tick N      ticks without a leader before campaigning (default 10)
      --heartbeat-tick N     ticks between leader heartbeats (default 1)
      --disable-forwarding   answer writes on followers with 421 and the leader's address
      --request-timeout MS   how long a write or linearizable read may wait (default 5000)
      --log-level LEVEL      debug, info, warn or error (default info)
      --log-format FORMAT    json (one JSON object per line: time, level, member, term, event, msg,
                             fields) or pretty (text lines); default pretty on a terminal, else json
      --initial-cluster-state new|existing
                             new: an empty --data directory founds the cluster of --peers, once a
                             majority of them confirm they are new too; existing (default): an empty
                             directory is refused (see --join). Ignored once the directory holds data.
      --join                 start an empty member that was added to a running cluster with
                             \`actor-raft member add ID HOST:PORT\`; it learns the log from the leader.
                             A member that lost its data directory must be replaced this way
                             (member remove, member add, then --join), see docs/membership.md

  actor-raft cluster [--nodes 3] [--data ./data] [options]
      Runs a local cluster, one OS process per member, and prints the leader as it changes.
      --nodes N              members (default 3)
      --data DIR             parent of each member's data directory (default ./data)
      --host HOST            address to bind (default 127.0.0.1)
      --base-port P          Raft port of member 1; member i uses P+i-1 (default 7001)
      --http-base-port P     HTTP port of member 1 (default 8001)
      --cluster-id X, --tick MS, --log-level LEVEL   as for node

  actor-raft member list [--stale]                      [--endpoint URL] [--json]
  actor-raft member add ID HOST:PORT [--learner]         [--endpoint URL] [--json]
  actor-raft member remove ID                            [--endpoint URL] [--json]
  actor-raft member promote ID                           [--endpoint URL] [--json]
  actor-raft member transfer ID                          [--endpoint URL] [--json]
      Lists or changes the members of a running cluster through any member's HTTP API (changes
      are relayed to the leader). HOST:PORT is the new member's Raft address; start it with
      "actor-raft node --join". Add a learner, wait for it to catch up, then promote it.
      "transfer" hands leadership to voter ID (e.g. before stopping the leader's machine).
      --endpoint URL[,URL]   HTTP API of a member, e.g. http://127.0.0.1:8001 (default: the
                             ACTOR_RAFT_ENDPOINT environment variable, else http://127.0.0.1:8001)
      --learner              add a non-voting learner (promote it once it has caught up)
      --stale                list this member's view instead of asking the leader
      --timeout MS           keep retrying "not changed, retry" answers this long (default 30000)
      --json                 print the server's JSON answer

  actor-raft secret          prints a fresh random cluster secret (256 bits, hex)
  actor-raft help            this text
  actor-raft --version       the installed version
`;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function parseIntFlag(flag: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`--${flag} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function requireFlag<T>(flag: string, value: T | undefined, hint: string): T {
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${flag} (${hint})`);
  return value;
}

function checkAddress(flag: string, address: string): string {
  if (!isValidAddress(address)) throw new UsageError(`--${flag}: ${JSON.stringify(address)} is not a valid address; expected host:port with a port in 1..65535`);
  return address;
}

/** Parses `1=host:port,2=host:port` into a map, refusing bad ids, bad addresses and duplicates. */
export function parseMemberList(flag: string, raw: string): Map<number, string> {
  const out = new Map<number, string>();
  const seenAddresses = new Map<string, number>();
  const items = raw.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new UsageError(`--${flag} is empty; expected id=host:port,...`);
  for (const item of items) {
    if (item === '') throw new UsageError(`--${flag} has an empty item in ${JSON.stringify(raw)}`);
    const eq = item.indexOf('=');
    if (eq < 0) throw new UsageError(`--${flag}: ${JSON.stringify(item)} is not id=host:port`);
    const idText = item.slice(0, eq).trim();
    const address = item.slice(eq + 1).trim();
    if (!/^\d+$/.test(idText) || Number(idText) < 1 || !Number.isSafeInteger(Number(idText))) {
      throw new UsageError(`--${flag}: member id ${JSON.stringify(idText)} must be a positive whole number`);
    }
    const id = Number(idText);
    if (out.has(id)) throw new UsageError(`--${flag}: duplicate member id ${id}`);
    if (!isValidAddress(address)) throw new UsageError(`--${flag}: member ${id} has a bad address ${JSON.stringify(address)}; expected host:port with a port in 1..65535`);
    const other = seenAddresses.get(canonicalAddress(address));
    if (other !== undefined) throw new UsageError(`--${flag}: members ${other} and ${id} share the address ${address}`);
    seenAddresses.set(canonicalAddress(address), id);
    out.set(id, address);
  }
  return out;
}

function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as LogLevel;
}

function parseLogFormat(raw: string | undefined): 'json' | 'pretty' | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'json' && raw !== 'pretty') throw new UsageError(`--log-format must be json or pretty, got ${JSON.stringify(raw)}`);
  return raw;
}

const nodeOptions = {
  id: { type: 'string' },
  peers: { type: 'string' },
  listen: { type: 'string' },
  data: { type: 'string' },
  memory: { type: 'boolean' },
  http: { type: 'string' },
  'http-peers': { type: 'string' },
  secret: { type: 'string' },
  'cluster-id': { type: 'string' },
  tick: { type: 'string' },
  'election-tick': { type: 'string' },
  'heartbeat-tick': { type: 'string' },
  'disable-forwarding': { type: 'boolean' },
  'request-timeout': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'initial-cluster-state': { type: 'string' },
  join: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'frame-cipher': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'http-token': { type: 'string' },
  'http-insecure': { type: 'boolean' },
  'http-tls-cert': { type: 'string' },
  'http-tls-key': { type: 'string' },
  'http-tls-ca': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const memberOptions = {
  endpoint: { type: 'string' },
  learner: { type: 'boolean' },
  stale: { type: 'boolean' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const clusterOptions = {
  nodes: { type: 'string' },
  data: { type: 'string' },
  host: { type: 'string' },
  'base-port': { type: 'string' },
  'http-base-port': { type: 'string' },
  'cluster-id': { type: 'string' },
  tick: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ParseConfig = Parameters<typeof parseArgs>[0];

/** node:util parseArgs, with its errors turned into UsageErrors that name the subcommand. */
function parseFlags<O extends NonNullable<ParseConfig>['options']>(command: string, args: readonly string[], options: O) {
  return parseFlagsAndPositionals(command, args, options, false).values;
}

function parseFlagsAndPositionals<O extends NonNullable<ParseConfig>['options']>(command: string, args: readonly string[], options: O, allowPositionals: boolean) {
  try {
    const r = parseArgs({ args: [...args], options: options!, strict: true, allowPositionals, tokens: true });
    // --id given twice is a mistake (which member was meant?), not "the last one wins".
    const ids = (r.tokens ?? []).filter((t) => t.kind === 'option' && t.name === 'id');
    if (ids.length > 1) throw new UsageError(`--id is given more than once for "actor-raft ${command}"; give it once`);
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(e.message)?.[1] ?? e.message;
      throw new UsageError(`unknown flag ${flag} for "actor-raft ${command}"; run "actor-raft help" for the flags`);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']+)'/.exec(e.message)?.[1] ?? '';
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} for "actor-raft ${command}"`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(e.message.replace(/^Option '([^']+)'/, 'flag $1'));
    throw new UsageError(e.message);
  }
}

function parseNode(args: readonly string[], env: Readonly<Record<string, string | undefined>>): NodeCommand | HelpCommand {
  const v = parseFlags('node', args, nodeOptions);
  if (v.help) return { command: 'help', text: USAGE };
  const idText = requireFlag('id', v.id as string | undefined, "this member's id, e.g. --id 1");
  const id = parseIntFlag('id', idText, 0, 1, Number.MAX_SAFE_INTEGER);
  const peers = parseMemberList('peers', requireFlag('peers', v.peers as string | undefined, 'every member, e.g. --peers 1=127.0.0.1:7001,2=127.0.0.1:7002'));
  if (!peers.has(id)) throw new UsageError(`--id ${id} is not one of the members in --peers (${[...peers.keys()].join(', ')})`);
  const listen = v.listen === undefined ? undefined : checkAddress('listen', v.listen as string);
  const memory = v.memory === true;
  const data = v.data as string | undefined;
  if (memory && data !== undefined) throw new UsageError('use either --data DIR or --memory, not both');
  if (!memory && (data === undefined || data === '')) throw new UsageError('missing required flag --data (where this member keeps its log; or --memory for a throwaway node)');
  const http = checkAddress('http', requireFlag('http', v.http as string | undefined, "this member's HTTP API address, e.g. --http 127.0.0.1:8001"));
  const httpPeers = v['http-peers'] === undefined ? new Map<number, string>() : parseMemberList('http-peers', v['http-peers'] as string);
  for (const hid of httpPeers.keys()) if (!peers.has(hid)) throw new UsageError(`--http-peers names member ${hid}, which is not in --peers`);
  if (!httpPeers.has(id)) httpPeers.set(id, http);
  const secret = (v.secret as string | undefined) ?? env.ACTOR_RAFT_SECRET;
  if (secret === '') throw new UsageError('the secret must not be empty');
  if (peers.size > 1 && secret === undefined) {
    throw new UsageError('a cluster of more than one member needs a shared secret: set ACTOR_RAFT_SECRET (or pass --secret) to the same value on every member');
  }
  if (secret !== undefined) checkSecret(secret);
  const clusterId = parseClusterId(v['cluster-id'] as string | undefined);
  const tls = parseTlsFiles(v);
  const frameCipher = parseFrameCipher(v['frame-cipher'] as string | undefined, tls !== undefined);
  const httpTls = parseHttpTlsFiles(v);
  const httpToken = (v['http-token'] as string | undefined) ?? env.ACTOR_RAFT_HTTP_TOKEN;
  if (httpToken !== undefined) checkHttpToken(httpToken);
  if (httpToken === undefined && v['http-insecure'] !== true && !isLoopbackAddress(http)) {
    throw new UsageError(
      `--http ${http} is reachable from other machines and the HTTP API has no token: anyone who reaches it can read, write and delete. ` +
        'Set ACTOR_RAFT_HTTP_TOKEN (or --http-token) to a long random value (e.g. from "actor-raft secret"), or pass --http-insecure to accept the risk',
    );
  }
  const tickMs = parseIntFlag('tick', v.tick as string | undefined, 100, 1, 60_000);
  const heartbeatTick = parseIntFlag('heartbeat-tick', v['heartbeat-tick'] as string | undefined, 1, 1, 1_000_000);
  const electionTick = parseIntFlag('election-tick', v['election-tick'] as string | undefined, 10, 2, 1_000_000);
  if (electionTick <= heartbeatTick) throw new UsageError(`--election-tick (${electionTick}) must be greater than --heartbeat-tick (${heartbeatTick})`);
  const ics = v['initial-cluster-state'] as string | undefined;
  if (ics !== undefined && ics !== 'new' && ics !== 'existing') {
    throw new UsageError(`--initial-cluster-state must be new or existing, got ${JSON.stringify(ics)}`);
  }
  const join = v.join === true;
  if (join && ics === 'new') throw new UsageError('--join and --initial-cluster-state new contradict each other: a member either founds a cluster or joins one');
  return {
    command: 'node',
    // A memory node always starts empty: it can only ever found (or join) a cluster.
    initialClusterState: (ics as 'new' | 'existing' | undefined) ?? (memory ? 'new' : 'existing'),
    join,
    id,
    peers: [...peers].map(([pid, address]) => ({ id: pid, address })),
    listen,
    dataDir: memory ? '' : data!,
    http,
    httpPeers,
    secret,
    clusterId,
    tickMs,
    electionTick,
    heartbeatTick,
    disableForwarding: v['disable-forwarding'] === true,
    requestTimeoutMs: parseIntFlag('request-timeout', v['request-timeout'] as string | undefined, 5000, 1, 3_600_000),
    logLevel: parseLogLevel(v['log-level'] as string | undefined),
    logFormat: parseLogFormat(v['log-format'] as string | undefined),
    tls,
    frameCipher,
    httpToken,
    httpTls,
  };
}

function parseFrameCipher(mode: string | undefined, tls: boolean): FrameCipherName | undefined {
  if (mode === undefined) return undefined;
  if (!(FRAME_CIPHERS as readonly string[]).includes(mode)) throw new UsageError(`--frame-cipher must be one of ${FRAME_CIPHERS.join(', ')}, got ${JSON.stringify(mode)}`);
  if (mode === 'none' && !tls) throw new UsageError('--frame-cipher none leaves frames between members unauthenticated; it is allowed only with --tls-cert/--tls-key/--tls-ca');
  return mode as FrameCipherName;
}

function parseMemberId(raw: string | undefined, usage: string): number {
  if (raw === undefined) throw new UsageError(`missing the member id: ${usage}`);
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) throw new UsageError(`member id ${JSON.stringify(raw)} must be a positive whole number`);
  return Number(raw);
}

/** Parses `http://host:port[,http://host:port...]` (a bare `host:port` means http). */
function parseEndpoints(raw: string): string[] {
  const out: string[] = [];
  for (const item of raw.split(',').map((x) => x.trim())) {
    if (item === '') throw new UsageError(`--endpoint has an empty item in ${JSON.stringify(raw)}`);
    const withScheme = /^[a-z]+:\/\//i.test(item) ? item : `http://${item}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new UsageError(`--endpoint: ${JSON.stringify(item)} is not a URL like http://127.0.0.1:8001`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint: ${JSON.stringify(item)} must be an http:// or https:// URL`);
    if (url.pathname !== '/' || url.search || url.hash) throw new UsageError(`--endpoint: ${JSON.stringify(item)} must be a member's base URL, without a path`);
    out.push(`${url.protocol}//${url.host}`);
  }
  return out;
}

function parseMember(args: readonly string[], env: Readonly<Record<string, string | undefined>>): MemberCommand | HelpCommand {
  const { values: v, positionals } = parseFlagsAndPositionals('member', args, memberOptions, true);
  if (v.help) return { command: 'help', text: USAGE };
  const [action, ...rest] = positionals;
  const endpoints = parseEndpoints((v.endpoint as string | undefined) ?? env.ACTOR_RAFT_ENDPOINT ?? 'http://127.0.0.1:8001');
  const common = { command: 'member' as const, endpoints, timeoutMs: parseIntFlag('timeout', v.timeout as string | undefined, 30_000, 0, 3_600_000), json: v.json === true };
  const extra = (n: number) => {
    if (rest.length > n) throw new UsageError(`unexpected argument ${JSON.stringify(rest[n])} for "actor-raft member ${action}"`);
  };
  const onlyFor = (flag: 'learner' | 'stale', which: string) => {
    if (v[flag] !== undefined) throw new UsageError(`--${flag} only goes with "actor-raft member ${which}"`);
  };
  switch (action) {
    case 'list':
      extra(0);
      onlyFor('learner', 'add');
      return { ...common, action, stale: v.stale === true };
    case 'add': {
      const usage = 'actor-raft member add ID HOST:PORT [--learner]';
      const id = parseMemberId(rest[0], usage);
      const address = rest[1];
      if (address === undefined) throw new UsageError(`missing the new member's Raft address: ${usage}`);
      if (!isValidAddress(address)) throw new UsageError(`${JSON.stringify(address)} is not a valid Raft address; expected host:port with a port in 1..65535`);
      extra(2);
      onlyFor('stale', 'list');
      return { ...common, action, id, address, learner: v.learner === true };
    }
    case 'remove':
    case 'promote':
    case 'transfer':
      extra(1);
      onlyFor('learner', 'add');
      onlyFor('stale', 'list');
      return { ...common, action, id: parseMemberId(rest[0], `actor-raft member ${action} ID`) };
    case undefined:
      throw new UsageError('missing member action: expected "actor-raft member list|add|remove|promote|transfer ..."');
    default:
      throw new UsageError(`unknown member action ${JSON.stringify(action)}; expected list, add, remove, promote or transfer`);
  }
}


function parseClusterId(raw: string | undefined): string {
  const clusterId = raw ?? 'actor-raft';
  if (clusterId === '') throw new UsageError('--cluster-id must not be empty');
  if (clusterId.length > MAX_CLUSTER_ID_LENGTH) {
    throw new UsageError(`--cluster-id must be at most ${MAX_CLUSTER_ID_LENGTH} characters, got ${clusterId.length}`);
  }
  return clusterId;
}

/** The secret's strength, as the library checks it, reported as a usage error. */
function checkSecret(secret: string): void {
  try {
    validateSecret(secret);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`the cluster secret is too weak: ${err.message.replace(/^invalid config: secret: /, '')}`);
    throw err;
  }
}

/** A token guessable offline or online would protect nothing: the same 128-bit floor as the secret. */
function checkHttpToken(token: string): void {
  try {
    validateSecret(token);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`the HTTP token is too weak: ${err.message.replace(/^invalid config: secret: /, '')}`);
    throw err;
  }
}

function parseTlsFiles(v: Record<string, string | boolean | undefined>): NodeCommand['tls'] {
  const cert = v['tls-cert'] as string | undefined;
  const key = v['tls-key'] as string | undefined;
  const ca = v['tls-ca'] as string | undefined;
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (!cert || !key || !ca) throw new UsageError('TLS for Raft connections needs all of --tls-cert, --tls-key and --tls-ca');
  return { cert, key, ca };
}

function parseHttpTlsFiles(v: Record<string, string | boolean | undefined>): NodeCommand['httpTls'] {
  const cert = v['http-tls-cert'] as string | undefined;
  const key = v['http-tls-key'] as string | undefined;
  const ca = v['http-tls-ca'] as string | undefined;
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (!cert || !key) throw new UsageError('HTTPS needs both --http-tls-cert and --http-tls-key');
  if (ca === '') throw new UsageError('--http-tls-ca needs a file');
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackAddress(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function parseCluster(args: readonly string[]): ClusterCommand | HelpCommand {
  const v = parseFlags('cluster', args, clusterOptions);
  if (v.help) return { command: 'help', text: USAGE };
  const nodes = parseIntFlag('nodes', v.nodes as string | undefined, 3, 1, 99);
  const dataDir = (v.data as string | undefined) ?? './data';
  if (dataDir === '') throw new UsageError('--data must not be empty');
  const host = (v.host as string | undefined) ?? '127.0.0.1';
  const basePort = parseIntFlag('base-port', v['base-port'] as string | undefined, 7001, 1, 65535);
  const httpBasePort = parseIntFlag('http-base-port', v['http-base-port'] as string | undefined, 8001, 1, 65535);
  checkAddress('host', `${host}:${basePort}`);
  if (basePort + nodes - 1 > 65535) throw new UsageError(`--base-port ${basePort} leaves no room for ${nodes} members (ports up to 65535)`);
  if (httpBasePort + nodes - 1 > 65535) throw new UsageError(`--http-base-port ${httpBasePort} leaves no room for ${nodes} members (ports up to 65535)`);
  if (basePort < httpBasePort + nodes && httpBasePort < basePort + nodes) {
    throw new UsageError(`the Raft ports ${basePort}..${basePort + nodes - 1} and the HTTP ports ${httpBasePort}..${httpBasePort + nodes - 1} overlap`);
  }
  const clusterId = parseClusterId(v['cluster-id'] as string | undefined);
  return {
    command: 'cluster',
    nodes,
    dataDir,
    host,
    basePort,
    httpBasePort,
    clusterId,
    tickMs: parseIntFlag('tick', v.tick as string | undefined, 100, 1, 60_000),
    logLevel: parseLogLevel(v['log-level'] as string | undefined),
  };
}

/**
 * Parses `actor-raft <command> [flags]` (argv without node and the script). Throws UsageError with
 * a message for the user on any problem.
 */
export function parseCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CliCommand {
  const [command, ...rest] = argv;
  switch (command) {
    case 'node':
      return parseNode(rest, env);
    case 'cluster':
      return parseCluster(rest);
    case 'member':
      return parseMember(rest, env);
    case 'secret':
      if (rest.length > 0) throw new UsageError('"actor-raft secret" takes no arguments');
      return { command: 'secret' };
    case undefined:
      throw new UsageError('missing command: expected "actor-raft node ...", "actor-raft cluster ..." or "actor-raft member ..."; run "actor-raft help" for the flags');
    case 'help':
    case '--help':
    case '-h':
      return { command: 'help', text: USAGE };
    case 'version':
    case '--version':
    case '-v':
      return { command: 'version' };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; expected "node", "cluster", "member", "secret" or "help"`);
  }
}
