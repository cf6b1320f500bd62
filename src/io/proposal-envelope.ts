/**
 * Every command a RaftNode proposes travels in an envelope naming the node that proposed it and a
 * sequence number. When the entry is applied, the proposer recognises it and resolves the right
 * promise, also when a follower forwarded the command and never learned its index. The state
 * machine sees only the payload.
 *
 * Layout: 0xAE, version 1, node id (float64 BE, exact for any safe integer), sequence (float64 BE),
 * payload. Entries without the marker (written by other tools) are applied as they are.
 */
const MARKER = 0xae;
const VERSION = 1;
const HEADER = 18;

export interface Envelope {
  readonly nodeId: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

export function wrapProposal(nodeId: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.byteLength);
  const view = new DataView(out.buffer);
  out[0] = MARKER;
  out[1] = VERSION;
  view.setFloat64(2, nodeId);
  view.setFloat64(10, seq);
  out.set(payload, HEADER);
  return out;
}

export function unwrapProposal(data: Uint8Array): Envelope | undefined {
  if (data.byteLength < HEADER || data[0] !== MARKER || data[1] !== VERSION) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nodeId = view.getFloat64(2);
  const seq = view.getFloat64(10);
  if (!Number.isSafeInteger(nodeId) || !Number.isSafeInteger(seq)) return undefined;
  return { nodeId, seq, payload: data.subarray(HEADER) };
}
