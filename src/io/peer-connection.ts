/**
 * One TCP (or TLS) connection to a peer: framing, the authenticated handshake, and message frames
 * in both directions. The transport decides what to do with connections (which one to keep, when
 * to redial); this file only guarantees that nothing reaches the transport from a socket before
 * the peer has proven it knows the cluster secret, and that no frame is buffered beyond its cap.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { InvalidMessageError } from '../errors.ts';
import type { Message } from '../raft/raftpb.ts';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameTooLargeError, encodeFrames, encodeFramesWithRoom, splitFrames } from './frame.ts';
import { FRAME_TAG_BYTES, FrameOpener, FrameSealer, deriveFrameKeys } from './frame-cipher.ts';
import type { FrameCipherName } from './frame-cipher.ts';
import { computeProof, helloProblem, verifyProof } from './handshake.ts';
import type { HandshakeRole, HelloProblem } from './handshake.ts';
import { NONCE_BYTES, PROTOCOL_NAME, PROTOCOL_VERSION, decodeHello, decodePeerMessage, decodeProof, encodeHello, encodeProof } from './wire.ts';
import type { Hello } from './wire.ts';
import type { PeerReport } from '../raft/member-identity.ts';

/** Why a connection never became usable. */
export type HandshakeFailure = HelloProblem | 'badProof' | 'malformed' | 'oversized' | 'timeout' | 'closed';

/** Everything a connection needs from its transport; shared by all connections of a transport. */
export interface ConnectionSettings {
  readonly selfId: number;
  readonly clusterId: string;
  readonly secret: Uint8Array;
  /** The data-directory incarnation (random per transport start when the store has none). */
  readonly incarnation: Uint8Array;
  /** Random per transport start: tells peers this process restarted (the incarnation does not). */
  readonly boot?: Uint8Array;
  /** Whether this node's store is still empty, said in every hello. */
  readonly pristine?: () => boolean;
  /** The incarnation this node recorded for a peer, said in the hello to it. */
  readonly knownIncarnation?: (peerId: number) => Uint8Array | undefined;
  readonly isKnownPeer: (nodeId: number) => boolean;
  /** Frame cap before authentication: hellos and proofs are a few hundred bytes. */
  readonly handshakeFrameLimit: number;
  /** Frame cap once authenticated (derived from maxSizePerMsg). */
  readonly messageFrameLimit: number;
  readonly handshakeTimeoutMs: number;
  /** How frames after the handshake are sealed; both ends must agree (it is part of the proof). */
  readonly frameCipher: FrameCipherName;
}

/** What a connection reports to its transport. */
export interface ConnectionListener {
  authenticated(conn: PeerConnection): void;
  message(conn: PeerConnection, msg: Message): void;
  invalidMessage(conn: PeerConnection, err: InvalidMessageError): void;
  oversizedFrame(conn: PeerConnection, err: FrameTooLargeError): void;
  /** A sealed frame failed authentication, or its record was malformed; the connection is closing. */
  rejectedFrame(conn: PeerConnection, err: InvalidMessageError): void;
  /** Fires exactly once, after the socket is gone; `failure` is set when it never authenticated. */
  closed(conn: PeerConnection, failure: HandshakeFailure | undefined): void;
}

type Phase = 'connecting' | 'awaitHello' | 'awaitProof' | 'open' | 'closed';

export class PeerConnection {
  private phase: Phase;
  private readonly decoder: FrameDecoder;
  private readonly ourNonce = randomBytes(NONCE_BYTES);
  private ourHello: Hello | undefined;
  private theirHello: Hello | undefined;
  private failure: HandshakeFailure | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private sealer: FrameSealer | undefined;
  private opener: FrameOpener | undefined;
  /** Set once this connection lost a tie-break; the transport stops writing to it. */
  retired = false;

  constructor(
    private readonly socket: Socket,
    readonly role: HandshakeRole,
    private readonly settings: ConnectionSettings,
    private readonly listener: ConnectionListener,
    /** The dialer knows whom it called; the acceptor learns it from the hello. */
    private expectedPeerId: number | undefined,
    connected: boolean,
  ) {
    this.decoder = new FrameDecoder(settings.handshakeFrameLimit);
    this.phase = connected ? 'awaitHello' : 'connecting';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows and reports; an unhandled 'error' would crash the process
    socket.on('close', () => this.onClose());
    this.handshakeTimer = setTimeout(() => this.fail('timeout'), settings.handshakeTimeoutMs);
    if (connected) this.onConnected();
  }

  /** The dialer's socket finished connecting (TCP connect or TLS secureConnect). */
  onConnected(): void {
    if (this.phase === 'closed') return;
    this.phase = 'awaitHello';
    if (this.role === 'dialer') this.sendHello(this.expectedPeerId!);
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** The authenticated peer (or the dialed one before authentication). */
  get peerId(): number | undefined {
    return this.theirHello?.nodeId ?? this.expectedPeerId;
  }

  /** The node that dialed this connection: the tie-break prefers the lower id's dial. */
  get dialerId(): number {
    return this.role === 'dialer' ? this.settings.selfId : (this.theirHello?.nodeId ?? 0);
  }

  /** The dialer's nonce: both ends know it, so it orders two dials by the same node identically. */
  get dialerNonce(): Uint8Array {
    return this.role === 'dialer' ? this.ourNonce : (this.theirHello?.nonce ?? new Uint8Array(0));
  }

  /** An acceptable hello arrived: the other end knows the cluster id and a member's id. */
  get hasHello(): boolean {
    return this.theirHello !== undefined;
  }

  get remoteIncarnation(): Uint8Array | undefined {
    return this.theirHello?.incarnation;
  }

  /** Which run of the peer's process this connection reaches (its incarnation when it sent no boot id). */
  get remoteRun(): Uint8Array | undefined {
    return this.theirHello?.boot ?? this.theirHello?.incarnation;
  }

  /** Bytes read from the socket so far (the kernel's count, nothing added on the read path). */
  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  /** Bytes accepted by `write` but not yet handed to the kernel: the backpressure signal. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Write frame bodies as one socket write. Returns the bytes written, 0 when not open. Sealed
   * connections seal the whole batch as one record (several when it exceeds the frame cap).
   */
  writeFrames(bodies: readonly Uint8Array[]): number {
    if (this.phase !== 'open' || this.socket.destroyed) return 0;
    if (!this.sealer) {
      const buf = encodeFrames(bodies);
      this.socket.write(buf);
      return buf.length;
    }
    const records = this.sealRecords(bodies);
    // One record (the common case) is one write; several, or the pieces of an encrypted record,
    // go out as one corked writev, so a batch is still one system call.
    const corked = records.length > 1 || records[0]!.length > 1;
    if (corked) this.socket.cork();
    let written = 0;
    for (const parts of records) {
      for (const p of parts) {
        this.socket.write(p);
        written += p.length;
      }
    }
    if (corked) this.socket.uncork();
    return written;
  }

  /**
   * Batches of bodies, each batch one record whose plaintext stays within the cap, as the buffers
   * to write: authentication-only records are one buffer (header, frames, tag); encrypted ones are
   * header, ciphertext and tag, written without a copy to join them.
   */
  private sealRecords(bodies: readonly Uint8Array[]): Buffer[][] {
    const cap = this.settings.messageFrameLimit + FRAME_HEADER_BYTES;
    const records: Buffer[][] = [];
    let from = 0;
    let size = 0;
    for (let i = 0; i < bodies.length; i++) {
      const add = FRAME_HEADER_BYTES + bodies[i]!.length;
      if (i > from && size + add > cap) {
        records.push(this.sealRecord(bodies.slice(from, i)));
        from = i;
        size = 0;
      }
      size += add;
    }
    records.push(this.sealRecord(from === 0 ? bodies : bodies.slice(from)));
    return records;
  }

  private sealRecord(group: readonly Uint8Array[]): Buffer[] {
    const sealer = this.sealer!;
    if (sealer.authenticatesOnly) {
      const record = encodeFramesWithRoom(group, FRAME_HEADER_BYTES, FRAME_TAG_BYTES);
      const end = record.length - FRAME_TAG_BYTES;
      record.writeUInt32BE(end - FRAME_HEADER_BYTES + FRAME_TAG_BYTES, 0);
      sealer.tagInPlace(record, FRAME_HEADER_BYTES, end);
      return [record];
    }
    const parts = sealer.sealParts(encodeFrames(group));
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(parts.reduce((n, p) => n + p.length, 0), 0);
    return [header, ...parts];
  }

  /** Graceful close: what was written is still delivered, and we read until the peer closes. */
  end(): void {
    if (this.phase === 'closed') return;
    this.socket.end();
  }

  /** Immediate close. */
  destroy(): void {
    this.socket.destroy();
  }

  private sendHello(peerId: number): void {
    this.ourHello = {
      protocol: PROTOCOL_NAME,
      version: PROTOCOL_VERSION,
      clusterId: this.settings.clusterId,
      nodeId: this.settings.selfId,
      peerId,
      nonce: this.ourNonce,
      incarnation: this.settings.incarnation,
      ...(this.settings.boot ? { boot: this.settings.boot } : {}),
      ...(this.settings.pristine?.() ? { pristine: true } : {}),
      ...this.knowsYouAs(peerId),
    };
    this.writeRaw([encodeHello(this.ourHello)]);
  }

  private knowsYouAs(peerId: number): { knowsYouAs?: Uint8Array } {
    const known = peerId === 0 ? undefined : this.settings.knownIncarnation?.(peerId);
    return known ? { knowsYouAs: known } : {};
  }

  private senderIdentity: PeerReport | undefined;

  /** Who the authenticated peer says it is (member identity, docs/membership.md); hex strings. */
  get peerReport(): PeerReport | undefined {
    const h = this.theirHello;
    if (!h || this.phase !== 'open') return undefined;
    this.senderIdentity ??= {
      incarnation: Buffer.from(h.incarnation).toString('hex'),
      pristine: h.pristine === true,
      ...(h.knowsYouAs ? { knowsYouAs: Buffer.from(h.knowsYouAs).toString('hex') } : {}),
    };
    return this.senderIdentity;
  }

  private writeRaw(bodies: Uint8Array[]): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrames(bodies));
  }

  private onData(chunk: Buffer): void {
    this.decoder.append(chunk);
    // One frame at a time: the handshake may end mid-chunk, and the frames after it are read
    // under the message cap and the frame cipher.
    while (this.phase !== 'closed' && !this.socket.destroyed) {
      let body: Buffer | undefined;
      try {
        body = this.decoder.next();
      } catch (err) {
        if (!(err instanceof FrameTooLargeError)) throw err;
        if (this.phase === 'open') this.listener.oversizedFrame(this, err);
        this.fail('oversized');
        return;
      }
      if (body === undefined) return;
      this.onFrame(body);
    }
  }

  private onFrame(body: Buffer): void {
    switch (this.phase) {
      case 'open':
        return this.opener ? this.onSealedFrame(body) : this.onMessageFrame(body);
      case 'awaitHello':
        return this.onHelloFrame(body);
      case 'awaitProof':
        return this.onProofFrame(body);
      default:
        return this.fail('malformed'); // data before our connect completed cannot happen on a sane peer
    }
  }

  /** A sealed record: open it (in order, under the next counter) and handle the frames inside. */
  private onSealedFrame(sealed: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = splitFrames(this.opener!.open(sealed), this.settings.messageFrameLimit);
    } catch (err) {
      if (!(err instanceof InvalidMessageError)) throw err;
      // Nothing after a bad record can be trusted: a TCP stream does not resynchronize.
      this.listener.rejectedFrame(this, err);
      this.socket.destroy();
      return;
    }
    for (const body of bodies) {
      if (this.phase !== 'open') return;
      this.onMessageFrame(body);
    }
  }

  private onMessageFrame(body: Buffer): void {
    let msg: Message;
    try {
      msg = decodePeerMessage(body, { from: this.theirHello!.nodeId, to: this.settings.selfId });
    } catch (err) {
      if (!(err instanceof InvalidMessageError)) throw err;
      this.listener.invalidMessage(this, err);
      return;
    }
    this.listener.message(this, msg);
  }

  private onHelloFrame(body: Buffer): void {
    let hello: Hello;
    try {
      hello = decodeHello(body);
    } catch {
      return this.fail('malformed');
    }
    const problem = helloProblem(hello, {
      clusterId: this.settings.clusterId,
      selfId: this.settings.selfId,
      expectedPeerId: this.role === 'dialer' ? this.expectedPeerId : undefined,
      isKnownPeer: this.settings.isKnownPeer,
    });
    if (problem) return this.fail(problem);
    this.theirHello = hello;
    this.phase = 'awaitProof';
    if (this.role === 'acceptor') {
      this.expectedPeerId = hello.nodeId;
      this.sendHello(hello.nodeId);
      this.writeRaw([encodeProof({ proof: computeProof(this.settings.secret, 'acceptor', this.ourHello!, hello, this.settings.frameCipher) })]);
    }
  }

  private onProofFrame(body: Buffer): void {
    let proof: Uint8Array;
    try {
      proof = decodeProof(body).proof;
    } catch {
      return this.fail('malformed');
    }
    const proverRole: HandshakeRole = this.role === 'dialer' ? 'acceptor' : 'dialer';
    const cipher = this.settings.frameCipher;
    if (!verifyProof(this.settings.secret, proverRole, this.theirHello!, this.ourHello!, proof, cipher)) return this.fail('badProof');
    if (this.role === 'dialer') {
      this.writeRaw([encodeProof({ proof: computeProof(this.settings.secret, 'dialer', this.ourHello!, this.theirHello!, cipher) })]);
    }
    this.phase = 'open';
    if (cipher === 'none') {
      this.decoder.setLimit(this.settings.messageFrameLimit);
    } else {
      const [dialer, acceptor] = this.role === 'dialer' ? [this.ourHello!, this.theirHello!] : [this.theirHello!, this.ourHello!];
      const keys = deriveFrameKeys(this.settings.secret, cipher, dialer, acceptor);
      const [out, into] = this.role === 'dialer' ? [keys.dialerToAcceptor, keys.acceptorToDialer] : [keys.acceptorToDialer, keys.dialerToAcceptor];
      this.sealer = new FrameSealer(cipher, out);
      this.opener = new FrameOpener(cipher, into);
      this.decoder.setLimit(this.settings.messageFrameLimit + FRAME_HEADER_BYTES + FRAME_TAG_BYTES);
    }
    clearTimeout(this.handshakeTimer);
    this.listener.authenticated(this);
  }

  private fail(reason: HandshakeFailure): void {
    if (this.phase === 'closed') return;
    if (this.phase !== 'open') this.failure ??= reason;
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.phase === 'closed') return;
    const wasOpen = this.phase === 'open';
    this.phase = 'closed';
    clearTimeout(this.handshakeTimer);
    this.listener.closed(this, wasOpen ? undefined : (this.failure ?? 'closed'));
  }
}
