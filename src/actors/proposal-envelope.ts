/**
 * Every command a RaftNode proposes travels in an envelope naming who proposed it: the node, a
 * random id of the RaftNode instance (so a restarted process never mistakes an old entry of its
 * predecessor for one of its own), and a sequence number. When the entry is applied, the proposer
 * recognises it and settles the right promise, also when a follower forwarded the command and
 * never learned its index. The state machine sees only the payload.
 *
 * Layout: 0xAE, version 2, node id, instance id, sequence (each float64 BE, exact for any safe
 * integer), payload. Entries without the marker (written by other tools) are applied as they are.
 */
import { randomBytes } from 'node:crypto';

const MARKER = 0xae;
const VERSION = 2;
const HEADER = 26;

/** Who proposed an entry: a node, in one particular run of one RaftNode. */
export interface Proposer {
  readonly nodeId: number;
  readonly instance: number;
}

export interface Envelope extends Proposer {
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** A fresh random instance id (48 random bits: collisions are not a practical concern). */
export function newInstanceId(): number {
  return randomBytes(6).readUIntBE(0, 6);
}

export function wrapProposal(proposer: Proposer, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.byteLength);
  const view = new DataView(out.buffer);
  out[0] = MARKER;
  out[1] = VERSION;
  view.setFloat64(2, proposer.nodeId);
  view.setFloat64(10, proposer.instance);
  view.setFloat64(18, seq);
  out.set(payload, HEADER);
  return out;
}

/** Scratch for reading a big-endian float64 without allocating a DataView per entry (hot path: every entry applied). */
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float64BE(data: Uint8Array, at: number): number {
  for (let k = 0; k < 8; k++) scratchBytes[littleEndian ? 7 - k : k] = data[at + k]!;
  return scratch[0]!;
}

export function unwrapProposal(data: Uint8Array): Envelope | undefined {
  if (data.byteLength < HEADER || data[0] !== MARKER || data[1] !== VERSION) return undefined;
  const nodeId = float64BE(data, 2);
  const instance = float64BE(data, 10);
  const seq = float64BE(data, 18);
  if (!Number.isSafeInteger(nodeId) || !Number.isSafeInteger(instance) || !Number.isSafeInteger(seq)) return undefined;
  return { nodeId, instance, seq, payload: data.subarray(HEADER) };
}

export function isFrom(envelope: Envelope | undefined, proposer: Proposer): envelope is Envelope {
  return envelope !== undefined && envelope.nodeId === proposer.nodeId && envelope.instance === proposer.instance;
}
