/**
 * Frame protection after the handshake: every frame is authenticated (and, in the AEAD modes,
 * encrypted) under a per-connection, per-direction key and an implicit per-direction counter.
 *
 * Why: the handshake proves who is at the other end, but a socket is only a byte stream. Without a
 * MAC on each frame, anyone on the path (no secret needed) can splice a forged message into an
 * authenticated connection; one MsgApp with a huge term is enough to stall a cluster.
 *
 * Keys: HKDF-SHA256 over the cluster secret, salted with both handshake nonces (fresh on every
 * connection), with an `info` naming the direction, both node ids and the cipher. So every
 * connection and every direction has its own key, and a frame recorded on one can never verify
 * on another.
 *
 * Counter: the 96-bit AEAD nonce is 4 zero bytes and the 64-bit big-endian count of frames sealed
 * in that direction so far. It is never sent: the receiver counts too. A replayed, reordered,
 * dropped or injected frame therefore opens under the wrong nonce and fails its tag, as does any
 * altered byte; the connection is closed and redialed (a TCP stream cannot resynchronize).
 *
 * One seal covers one socket write: the plaintext is several length-prefixed message bodies back
 * to back, so a batch of messages costs one cipher setup, not one per message or per entry.
 *
 * Modes. Authentication is what the protocol needs; secrecy is optional (TLS stays available):
 * - `aes-256-gmac` (default): authentication only, GMAC (AES-GCM with the record as additional
 *   data and no plaintext, NIST SP 800-38D). ≈ 3 µs fixed per record and several GB/s of GHASH
 *   (AES-NI, carry-less multiply), so a batch of appends costs almost nothing beyond its setup.
 * - `hmac-sha256`: authentication only, HMAC-SHA256 over the counter and the plaintext, truncated
 *   to 128 bits. ≈ 2.5 µs fixed (a little cheaper for a lone heartbeat) but ≈ 1.4 GiB/s bulk.
 * - `chacha20-poly1305`, `aes-256-gcm`: AEADs that also encrypt; one cipher setup per record
 *   (≈ 4–4.5 µs) and 0.4–1 GB/s here.
 * - `none`: plain frames, for measuring the cost of protection, or inside TLS, which already
 *   authenticates every record.
 * Figures: `npm run bench -- transport`, docs/transport.md (Measured).
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { CipherGCM, DecipherGCM } from 'node:crypto';
import { InvalidMessageError } from '../errors.ts';

export type FrameCipherName = 'aes-256-gmac' | 'hmac-sha256' | 'aes-256-gcm' | 'chacha20-poly1305' | 'none';

export const FRAME_CIPHERS: readonly FrameCipherName[] = ['aes-256-gmac', 'hmac-sha256', 'chacha20-poly1305', 'aes-256-gcm', 'none'];

/** The modes that authenticate without encrypting: the record's plaintext goes out as is, then its tag. */
export type AuthOnlyCipherName = 'aes-256-gmac' | 'hmac-sha256';

export function isAuthOnly(cipher: FrameCipherName): cipher is AuthOnlyCipherName {
  return cipher === 'aes-256-gmac' || cipher === 'hmac-sha256';
}

/**
 * Authentication is required, secrecy is not (TLS gives it, with PKI): GMAC is the cheapest
 * measured mode for batches (the bench's 64 × 128 B appends) and close to HMAC for a heartbeat.
 */
export const DEFAULT_FRAME_CIPHER: FrameCipherName = 'aes-256-gmac';

/** Bytes of authentication tag at the end of every sealed frame. */
export const FRAME_TAG_BYTES = 16;

const KEY_BYTES = 32;
const IV_BYTES = 12;
/** Frames per direction before the connection must be redialed: far beyond any connection's life. */
const MAX_FRAMES = 2 ** 48;

/** A frame that failed authentication: forged, altered, replayed, reordered or after a dropped one. */
export class FrameAuthError extends InvalidMessageError {
  constructor(readonly counter: number) {
    super(`frame ${counter} failed authentication (forged, altered, replayed, reordered or after a lost frame)`);
  }
}

export interface FrameKeys {
  readonly dialerToAcceptor: Buffer;
  readonly acceptorToDialer: Buffer;
}

/** The two direction keys of one connection. `dialerNonce`/`acceptorNonce` are the hellos' nonces. */
export function deriveFrameKeys(
  secret: Uint8Array,
  cipher: FrameCipherName,
  dialer: { nodeId: number; nonce: Uint8Array },
  acceptor: { nodeId: number; nonce: Uint8Array },
): FrameKeys {
  const salt = Buffer.concat([dialer.nonce, acceptor.nonce]);
  const key = (direction: string) =>
    Buffer.from(hkdfSync('sha256', secret, salt, `actor-raft frames ${cipher} ${direction} ${dialer.nodeId}>${acceptor.nodeId}`, KEY_BYTES));
  return { dialerToAcceptor: key('dialer-to-acceptor'), acceptorToDialer: key('acceptor-to-dialer') };
}

// (Both AEADs take the same options; the casts pick the overload @types/node gives AES-GCM.)
function ivFor(counter: number): Buffer {
  const iv = Buffer.alloc(IV_BYTES);
  iv.writeUIntBE(counter, IV_BYTES - 6, 6);
  return iv;
}

/**
 * The authentication-only tag: HMAC-SHA256 over the 8-byte big-endian counter and the plaintext,
 * truncated to 128 bits (RFC 2104 §5 allows truncation to no less than half the output).
 */
function hmacTag(key: KeyObject, counter: number, plaintext: Uint8Array): Buffer {
  const count = Buffer.allocUnsafe(8);
  count.writeUIntBE(0, 0, 2);
  count.writeUIntBE(counter, 2, 6);
  return createHmac('sha256', key).update(count).update(plaintext).digest().subarray(0, FRAME_TAG_BYTES);
}

/**
 * The GMAC tag (NIST SP 800-38D §3: GCM with the whole input as additional authenticated data and
 * an empty plaintext) under the counter as IV. AES-NI and carry-less multiply make GHASH run at
 * several GB/s here, 5× HMAC-SHA256's bulk rate, for about the same fixed cost per record.
 */
function gmacTag(key: KeyObject, counter: number, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', key, ivFor(counter), { authTagLength: FRAME_TAG_BYTES }) as CipherGCM;
  c.setAAD(plaintext);
  c.final();
  return c.getAuthTag();
}

function authTag(cipher: AuthOnlyCipherName, key: KeyObject, counter: number, plaintext: Uint8Array): Buffer {
  return cipher === 'aes-256-gmac' ? gmacTag(key, counter, plaintext) : hmacTag(key, counter, plaintext);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Seals outgoing frames of one direction of one connection. */
export class FrameSealer {
  private counter = 0;
  /** The HMAC key as a KeyObject: measurably cheaper per frame than a Buffer key. */
  private readonly macKey: KeyObject;

  constructor(
    private readonly cipher: Exclude<FrameCipherName, 'none'>,
    private readonly key: Buffer,
  ) {
    this.macKey = createSecretKey(key);
  }

  /** Frames sealed so far (the counter of the next one). */
  get sealed(): number {
    return this.counter;
  }

  /** `plaintext` encrypted, followed by its tag. */
  seal(plaintext: Uint8Array): Buffer {
    return Buffer.concat(this.sealParts(plaintext));
  }

  /** Whether records go out as plaintext and tag (so `tagInPlace` applies). */
  get authenticatesOnly(): boolean {
    return isAuthOnly(this.cipher);
  }

  /**
   * Authentication-only modes: tags `record[start, end)` and writes the tag at `record[end, end +
   * FRAME_TAG_BYTES)`, so header, plaintext and tag leave in one buffer and one socket write.
   */
  tagInPlace(record: Buffer, start: number, end: number): void {
    if (!isAuthOnly(this.cipher)) throw new TypeError(`${this.cipher} encrypts; use sealParts`);
    if (this.counter >= MAX_FRAMES) throw new RangeError('frame counter exhausted; the connection must be redialed');
    authTag(this.cipher, this.macKey, this.counter++, record.subarray(start, end)).copy(record, end);
  }

  /** `seal` as the pieces to write back to back (ciphertext, tag), so a socket writev needs no copy. */
  sealParts(plaintext: Uint8Array): Buffer[] {
    if (this.counter >= MAX_FRAMES) throw new RangeError('frame counter exhausted; the connection must be redialed');
    if (isAuthOnly(this.cipher)) return [asBuffer(plaintext), authTag(this.cipher, this.macKey, this.counter++, plaintext)];
    const c = createCipheriv(this.cipher as 'aes-256-gcm', this.key, ivFor(this.counter++), { authTagLength: FRAME_TAG_BYTES }) as CipherGCM;
    const head = c.update(plaintext);
    const tail = c.final();
    const tag = c.getAuthTag();
    return tail.length === 0 ? [head, tag] : [head, tail, tag];
  }
}

/** Opens incoming frames of one direction of one connection, in order. */
export class FrameOpener {
  private counter = 0;
  private readonly macKey: KeyObject;

  constructor(
    private readonly cipher: Exclude<FrameCipherName, 'none'>,
    private readonly key: Buffer,
  ) {
    this.macKey = createSecretKey(key);
  }

  get opened(): number {
    return this.counter;
  }

  /** The plaintext of the next frame. Throws `FrameAuthError`; the stream cannot be trusted after it. */
  open(sealed: Uint8Array): Buffer {
    const counter = this.counter;
    if (sealed.length < FRAME_TAG_BYTES || counter >= MAX_FRAMES) throw new FrameAuthError(counter);
    const split = sealed.length - FRAME_TAG_BYTES;
    if (isAuthOnly(this.cipher)) {
      const body = asBuffer(sealed.subarray(0, split));
      if (!timingSafeEqual(authTag(this.cipher, this.macKey, counter, body), sealed.subarray(split))) throw new FrameAuthError(counter);
      this.counter++;
      return body;
    }
    const d = createDecipheriv(this.cipher as 'aes-256-gcm', this.key, ivFor(counter), { authTagLength: FRAME_TAG_BYTES }) as DecipherGCM;
    d.setAuthTag(sealed.subarray(split));
    try {
      const head = d.update(sealed.subarray(0, split));
      const tail = d.final();
      this.counter++;
      return tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch {
      throw new FrameAuthError(counter);
    }
  }
}
