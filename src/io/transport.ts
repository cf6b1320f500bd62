/**
 * The transport contract (the Go package's `Transport` and `MessageHandler`): how Raft messages
 * leave and enter a node. The TCP `BidirectionalTransport` implements it, and so can the
 * simulation's in-process network.
 */
import type { SenderIdentity } from '../raft/member-identity.ts';
import type { Message } from '../raft/raftpb.ts';

/**
 * Receives every message that arrives from a peer, already validated, with what the transport
 * knows of its sender's member identity (the TCP handshake tells it; docs/membership.md).
 */
export type MessageHandler = (msg: Message, sender?: SenderIdentity) => void;

export interface Transport {
  /**
   * Hand a message to the network. Never blocks and never throws because a peer is slow, down or
   * unknown: Raft tolerates lost messages and retransmits, so a message that cannot go now is
   * dropped (and counted) instead of stalling the node.
   */
  send(msg: Message): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Make `nodeId` reachable at `address` (`host:port`). Throws on an invalid id or address. */
  addPeer(nodeId: number, address: string): void;
  removePeer(nodeId: number): void;
}

/**
 * A transport that can put several messages for one peer into a single write. The transport
 * actor uses it when available, so a turn's worth of messages to a peer costs one syscall.
 */
export interface BatchTransport extends Transport {
  sendBatch(to: number, msgs: readonly Message[]): void;
}

export function isBatchTransport(t: Transport): t is BatchTransport {
  return typeof (t as Partial<BatchTransport>).sendBatch === 'function';
}
