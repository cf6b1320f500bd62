/**
 * Node configuration: every field and default of the Go package's `Config`, and validation
 * that names the offending field.
 */
import { ConfigError } from './errors.ts';
import type { RaftConfig } from './raft/raft-config.ts';

export type { Peer, ReadOnlyOption } from './raft/raft-config.ts';

/** Every option of a node: the core's (RaftConfig) and the host's. */
export interface Config extends RaftConfig {
  /** Where Raft state is persisted. Empty: keep everything in memory (tests, demos). */
  dataDir: string;
  /** Milliseconds between ticks. The Raft paper suggests elections in the 100–500 ms range. Default 100. */
  tickInterval: number;
}

/** A Config with the defaults of a typical deployment (and of the Go package). */
export function defaultConfig(): Config {
  return {
    nodeId: 0,
    peers: [],
    dataDir: '',
    tickInterval: 100,
    electionTick: 10,
    heartbeatTick: 1,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    snapshotInterval: 10000,
    snapshotCatchUpEntries: 5000,
    preVote: true,
    checkQuorum: true,
    readOnlyOption: 'safe',
    disableProposalForwarding: false,
    maxSnapshotBytes: 1024 * 1024 * 1024,
  };
}

function requirePositiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
}

function requireBoolean(field: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, got ${JSON.stringify(value)}`);
}

const hostPort = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** True when `address` is `host:port` with a port in 1..65535 (IPv6 hosts in brackets). */
export function isValidAddress(address: unknown): address is string {
  if (typeof address !== 'string') return false;
  const m = hostPort.exec(address);
  if (!m) return false;
  const port = Number(m[1]);
  return port >= 1 && port <= 65535;
}

/**
 * The form of a `host:port` used to compare member addresses: host names are case-insensitive,
 * and `localhost` is the loopback address, so `localhost:7001` and `127.0.0.1:7001` name the same
 * member. (Other names are not resolved: that would need DNS at validation time.)
 */
export function canonicalAddress(address: string): string {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).toLowerCase();
  return `${host === 'localhost' ? '127.0.0.1' : host}:${Number(address.slice(i + 1))}`;
}

/** Bits a cluster secret must carry at least: out of reach of offline guessing. */
export const MIN_SECRET_BITS = 128;

const HOW_TO_MAKE_A_SECRET =
  'make one with "actor-raft secret" (or: node -e "console.log(require(\'crypto\').randomBytes(32).toString(\'hex\'))") and give every member the same one';

/**
 * Checks that a secret carries at least 128 bits and returns its bytes. A Uint8Array counts 8 bits
 * a byte (it is assumed random). A string is estimated as length × log2(size of the character
 * classes it uses: digits 10, lower 26, upper 26, anything else 33), so 32 hex characters give
 * 128 bits and "x" or "s3cret" are refused; a string of one repeated character counts as one.
 * Throws ConfigError('secret') saying how to make a good one.
 */
export function validateSecret(secret: unknown): Uint8Array {
  if (typeof secret === 'string') {
    const bits = estimateSecretBits(secret);
    if (bits < MIN_SECRET_BITS) {
      throw new ConfigError('secret', `must carry at least ${MIN_SECRET_BITS} bits (e.g. 32 hex characters), this one about ${Math.floor(bits)}; ${HOW_TO_MAKE_A_SECRET}`);
    }
    return Buffer.from(secret, 'utf8');
  }
  if (secret instanceof Uint8Array) {
    if (secret.length * 8 < MIN_SECRET_BITS) {
      throw new ConfigError('secret', `must carry at least ${MIN_SECRET_BITS} bits (${MIN_SECRET_BITS / 8} random bytes), got ${secret.length} bytes; ${HOW_TO_MAKE_A_SECRET}`);
    }
    return secret;
  }
  throw new ConfigError('secret', `must be a string or a Uint8Array; ${HOW_TO_MAKE_A_SECRET}`);
}

function estimateSecretBits(secret: string): number {
  const chars = [...secret];
  if (new Set(chars).size <= 1) return chars.length === 0 ? 0 : Math.log2(33);
  let pool = 0;
  if (/[0-9]/.test(secret)) pool += 10;
  if (/[a-z]/.test(secret)) pool += 26;
  if (/[A-Z]/.test(secret)) pool += 26;
  if (/[^0-9a-zA-Z]/.test(secret)) pool += 33;
  // A hex string (the recommended form) uses 16 symbols, whatever the classes say.
  if (/^[0-9a-fA-F]+$/.test(secret)) pool = 16;
  return chars.length * Math.log2(pool);
}

/**
 * Fill unset fields with defaults and check every field. Throws `ConfigError` naming the first
 * bad field. Returns a new, frozen Config.
 */
export function resolveConfig(partial: Partial<Config> & Pick<Config, 'nodeId'>): Readonly<Config> {
  const defaults = defaultConfig();
  const cfg: Config = { ...defaults };
  for (const key of Object.keys(partial) as (keyof Config)[]) {
    if (!(key in defaults)) throw new ConfigError(key, 'is not a Config field');
    if (partial[key] !== undefined) (cfg as unknown as Record<string, unknown>)[key] = partial[key];
  }
  validateConfig(cfg);
  return Object.freeze({ ...cfg, peers: cfg.peers.map((p) => Object.freeze({ ...p })) });
}

/** Throws `ConfigError` naming the first invalid field of a complete Config. */
export function validateConfig(cfg: Config): void {
  if (typeof cfg.nodeId !== 'number' || !Number.isSafeInteger(cfg.nodeId) || cfg.nodeId < 1) {
    throw new ConfigError('nodeId', `must be a non-zero positive integer, got ${JSON.stringify(cfg.nodeId)}`);
  }
  if (!Array.isArray(cfg.peers)) throw new ConfigError('peers', 'must be an array of { id, address }');
  const seen = new Set<number>();
  for (const [i, p] of cfg.peers.entries()) {
    if (p === null || typeof p !== 'object') throw new ConfigError(`peers[${i}]`, 'must be { id, address }');
    if (typeof p.id !== 'number' || !Number.isSafeInteger(p.id) || p.id < 1) {
      throw new ConfigError(`peers[${i}].id`, `must be a non-zero positive integer, got ${JSON.stringify(p.id)}`);
    }
    if (seen.has(p.id)) throw new ConfigError(`peers[${i}].id`, `duplicate peer id ${p.id}`);
    seen.add(p.id);
    if (!isValidAddress(p.address)) {
      throw new ConfigError(`peers[${i}].address`, `must be host:port, got ${JSON.stringify(p.address)}`);
    }
  }
  if (typeof cfg.dataDir !== 'string') throw new ConfigError('dataDir', 'must be a string (empty for in-memory)');
  requirePositiveInteger('tickInterval', cfg.tickInterval);
  requirePositiveInteger('heartbeatTick', cfg.heartbeatTick);
  requirePositiveInteger('electionTick', cfg.electionTick);
  if (cfg.electionTick <= cfg.heartbeatTick) {
    throw new ConfigError(
      'electionTick',
      `must be greater than heartbeatTick (${cfg.heartbeatTick}), got ${cfg.electionTick}; 10x heartbeatTick is typical`,
    );
  }
  requirePositiveInteger('maxSizePerMsg', cfg.maxSizePerMsg);
  requirePositiveInteger('maxInflightMsgs', cfg.maxInflightMsgs);
  requirePositiveInteger('snapshotInterval', cfg.snapshotInterval);
  if (typeof cfg.snapshotCatchUpEntries !== 'number' || !Number.isSafeInteger(cfg.snapshotCatchUpEntries) || cfg.snapshotCatchUpEntries < 0) {
    throw new ConfigError('snapshotCatchUpEntries', `must be a non-negative integer, got ${JSON.stringify(cfg.snapshotCatchUpEntries)}`);
  }
  requireBoolean('preVote', cfg.preVote);
  requireBoolean('checkQuorum', cfg.checkQuorum);
  if (cfg.readOnlyOption !== 'safe' && cfg.readOnlyOption !== 'leaseBased') {
    throw new ConfigError('readOnlyOption', `must be 'safe' or 'leaseBased', got ${JSON.stringify(cfg.readOnlyOption)}`);
  }
  if (cfg.readOnlyOption === 'leaseBased' && !cfg.checkQuorum) {
    // The lease is the CheckQuorum lease (thesis §6.4.1): without it a deposed leader would keep
    // answering reads from its own commit index. etcd refuses the same combination.
    throw new ConfigError('readOnlyOption', "'leaseBased' requires checkQuorum: true (the lease is the leader's CheckQuorum lease)");
  }
  requireBoolean('disableProposalForwarding', cfg.disableProposalForwarding);
  requirePositiveInteger('maxSnapshotBytes', cfg.maxSnapshotBytes);
}
