/**
 * One remote node as the TCP transport sees it: its address, its authenticated connections and
 * the one we write to, the dial in progress, and its traffic figures.
 *
 * One connection per pair: both nodes dial each other eagerly, so sometimes both dials succeed;
 * both ends then rank the connections by the same rule (the dial by the lower node id wins, then
 * the lower dialer nonce) and the node that dialed the loser closes it gracefully, so nothing
 * written on it is lost.
 */
import type { Cancel } from './clock.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { PeerStats } from './transport-stats.ts';

export class PeerLink {
  /** Authenticated connections we may write to; `active` is the best of them. */
  readonly connections = new Set<PeerConnection>();
  active: PeerConnection | undefined = undefined;
  dialing: PeerConnection | undefined = undefined;
  /** The steady redial, while scheduled. */
  cancelRedial: Cancel | undefined = undefined;
  /** When the last dial started (the redial policy's clock), undefined before the first. */
  lastDialAt: number | undefined = undefined;
  everConnected = false;
  messagesSent = 0;
  bytesSent = 0;
  messagesReceived = 0;
  /** Bytes read by this peer's connections that have closed (open ones are read from their sockets). */
  closedBytesReceived = 0;

  constructor(
    readonly id: number,
    public address: string,
  ) {}

  stopRedial(): void {
    this.cancelRedial?.();
    this.cancelRedial = undefined;
  }

  /** Forgets a connection, keeping the bytes it read in the figures. Returns whether it was ours. */
  forget(conn: PeerConnection): boolean {
    if (!this.connections.delete(conn)) return false;
    this.closedBytesReceived += conn.bytesRead;
    return true;
  }

  /** A connection from a newer run of the peer means the older ones lead to a dead process. */
  dropOtherRuns(conn: PeerConnection): void {
    for (const other of this.connections) {
      if (!Buffer.from(other.remoteRun!).equals(conn.remoteRun!)) {
        this.forget(other);
        other.destroy();
      }
    }
  }

  /**
   * The tie-break: both ends rank connections identically (dial of the lower node id first, then
   * lower dialer nonce), so they settle on the same one. Losers we dialed are ended gracefully;
   * losers the peer dialed are left for the peer to end, and we keep reading them until it does.
   */
  chooseActive(selfId: number): void {
    const preferredDialer = Math.min(selfId, this.id);
    const ranked = [...this.connections].sort((a, b) => compareConnections(a, b, preferredDialer));
    this.active = ranked[0];
    for (const loser of ranked.slice(1)) {
      if (loser.role === 'dialer') {
        this.forget(loser);
        loser.end();
      }
    }
  }

  /** Closes everything (the peer was removed, or the transport stops). */
  close(): void {
    this.stopRedial();
    this.dialing?.destroy();
    for (const conn of this.connections) conn.destroy();
    this.connections.clear();
    this.active = undefined;
  }

  stats(): PeerStats {
    let open = 0;
    for (const c of this.connections) open += c.bytesRead;
    return {
      address: this.address,
      connected: this.active !== undefined,
      connections: this.connections.size,
      messagesSent: this.messagesSent,
      bytesSent: this.bytesSent,
      messagesReceived: this.messagesReceived,
      bytesReceived: this.closedBytesReceived + open,
    };
  }
}

function compareConnections(a: PeerConnection, b: PeerConnection, preferredDialer: number): number {
  const aPreferred = a.dialerId === preferredDialer ? 0 : 1;
  const bPreferred = b.dialerId === preferredDialer ? 0 : 1;
  if (aPreferred !== bPreferred) return aPreferred - bPreferred;
  return Buffer.compare(a.dialerNonce, b.dialerNonce);
}
