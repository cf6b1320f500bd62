/**
 * Per-message network hooks of the simulation: a test decides, for each message that leaves a
 * node, whether it is dropped, delayed by a given time, or duplicated — by message type and
 * direction, or by any predicate. Hooks run before the network's random faults; the first hook
 * that returns a fate decides.
 */
import type { Message, MessageType } from '../raft/raftpb.ts';

/** What becomes of one message. Fields left out keep the network's usual behaviour. */
export interface MessageFate {
  /** Lose it. */
  readonly drop?: boolean;
  /** Deliver it this many virtual ms after it leaves (instead of the network's random delay). */
  readonly delayMs?: number;
  /** Deliver this many extra copies (each with the same delay). */
  readonly duplicates?: number;
}

/** Returns a fate for the message, or undefined to leave it to the next hook and the network. */
export type MessageHook = (m: Message) => MessageFate | undefined;

/** Which messages a hook built with `onMessages` applies to: any field left out matches everything. */
export interface MessageMatch {
  readonly type?: MessageType | readonly MessageType[];
  readonly from?: number;
  readonly to?: number;
}

export function matches(m: Message, match: MessageMatch): boolean {
  if (match.from !== undefined && m.from !== match.from) return false;
  if (match.to !== undefined && m.to !== match.to) return false;
  if (match.type !== undefined) {
    const types = Array.isArray(match.type) ? (match.type as readonly MessageType[]) : [match.type as MessageType];
    if (!types.includes(m.type)) return false;
  }
  return true;
}

/** A hook giving `fate` to the messages that match, e.g. `onMessages({ type: MessageType.MsgAppResp, from: 2 }, { drop: true })`. */
export function onMessages(match: MessageMatch, fate: MessageFate): MessageHook {
  return (m) => (matches(m, match) ? fate : undefined);
}
