/**
 * Framing on a byte stream: every frame is a 4-byte big-endian body length followed by the body.
 *
 * The decoder checks the announced length against its cap *before* it buffers a single body byte,
 * so a peer (or anyone who can open a socket) cannot make us allocate gigabytes by announcing a
 * huge frame; the connection owner closes the socket on `FrameTooLargeError`.
 */
import { InvalidMessageError } from '../errors.ts';

export const FRAME_HEADER_BYTES = 4;

/** The largest body the 4-byte header can describe. */
export const MAX_FRAME_BODY = 0xffff_ffff;

/** A frame announced a body larger than the decoder accepts. The stream cannot be trusted after it. */
export class FrameTooLargeError extends InvalidMessageError {
  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super(`frame of ${announced} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** Header + body as one buffer. */
export function encodeFrame(body: Uint8Array): Buffer {
  return encodeFrames([body]);
}

/** Several frames back to back in one buffer, so a batch costs one socket write. */
export function encodeFrames(bodies: readonly Uint8Array[]): Buffer {
  return encodeFramesWithRoom(bodies, 0, 0);
}

/**
 * `encodeFrames` into a buffer with `before` bytes left free in front and `after` behind, so a
 * sealed record's own header and tag fit around its frames without another copy.
 */
export function encodeFramesWithRoom(bodies: readonly Uint8Array[], before: number, after: number): Buffer {
  let total = before + after;
  for (const b of bodies) total += FRAME_HEADER_BYTES + b.length;
  const out = Buffer.allocUnsafe(total);
  let at = before;
  for (const b of bodies) {
    if (b.length > MAX_FRAME_BODY) throw new RangeError(`frame body of ${b.length} bytes cannot be framed`);
    out.writeUInt32BE(b.length, at);
    out.set(b, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + b.length;
  }
  return out;
}

/**
 * Incremental decoder: feed it socket chunks in any split, get whole frame bodies back in order.
 *
 * Chunks are kept as a list and joined only when a frame spans them, so the common case (whole
 * frames inside one chunk) copies nothing: bodies are views into the chunk. A caller that keeps a
 * body beyond the next `push` must copy what it keeps.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private maxBody: number) {
    checkLimit(maxBody);
  }

  /** The cap in force; lowered for unauthenticated connections, raised once a peer is known. */
  get limit(): number {
    return this.maxBody;
  }

  setLimit(maxBody: number): void {
    checkLimit(maxBody);
    this.maxBody = maxBody;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Append a chunk and return every body it completes. Throws `FrameTooLargeError` as soon as a
   * header announces more than the limit; the decoder is then unusable, like the stream.
   */
  push(chunk: Uint8Array): Buffer[] {
    this.append(chunk);
    const bodies: Buffer[] = [];
    for (let body = this.next(); body !== undefined; body = this.next()) bodies.push(body);
    return bodies;
  }

  /** Buffer a chunk without splitting it; `next()` then yields its frames one by one. */
  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.buffered += chunk.length;
  }

  /**
   * The next whole frame body, or undefined when none is complete yet. One at a time, so a caller
   * whose limit changes between frames (the handshake ends in the middle of a chunk) checks every
   * later frame against the limit in force when it is read.
   */
  next(): Buffer | undefined {
    if (this.buffered < FRAME_HEADER_BYTES) return undefined;
    const length = this.peekLength();
    if (length > this.maxBody) {
      this.chunks = [];
      this.buffered = 0;
      throw new FrameTooLargeError(length, this.maxBody);
    }
    if (this.buffered < FRAME_HEADER_BYTES + length) return undefined;
    const frame = this.headChunk(FRAME_HEADER_BYTES + length);
    const body = frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
    this.consume(FRAME_HEADER_BYTES + length);
    return body;
  }

  /** The 4-byte header at the read position, read across chunk boundaries without joining them. */
  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    let value = 0;
    let read = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length && read < FRAME_HEADER_BYTES; i++, read++) value = value * 256 + chunk[i]!;
      if (read === FRAME_HEADER_BYTES) break;
    }
    return value;
  }

  /**
   * The next `n` unread bytes as one buffer: a view when they sit in one chunk, otherwise a copy
   * of exactly those bytes (never of the whole backlog, so a frame costs O(its size)).
   */
  private headChunk(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    for (const chunk of this.chunks) {
      const take = Math.min(chunk.length, n - copied);
      chunk.copy(out, copied, 0, take);
      copied += take;
      if (copied === n) break;
    }
    return out;
  }

  /** Drop `n` bytes from the front, across as many chunks as they span. */
  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

function checkLimit(maxBody: number): void {
  if (!Number.isSafeInteger(maxBody) || maxBody < 0 || maxBody > MAX_FRAME_BODY) {
    throw new RangeError(`frame limit must be an integer in [0, ${MAX_FRAME_BODY}], got ${maxBody}`);
  }
}

/**
 * The frames packed into one sealed record: length-prefixed bodies that must fill `bytes` exactly,
 * each at most `maxBody`. Throws InvalidMessageError; the record came from an authenticated peer,
 * so a bad one means a broken peer and the connection is closed.
 */
export function splitFrames(bytes: Buffer, maxBody: number): Buffer[] {
  const bodies: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < FRAME_HEADER_BYTES) throw new InvalidMessageError('invalid record: truncated frame header');
    const length = bytes.readUInt32BE(at);
    if (length > maxBody) throw new FrameTooLargeError(length, maxBody);
    if (bytes.length - at - FRAME_HEADER_BYTES < length) throw new InvalidMessageError('invalid record: truncated frame body');
    bodies.push(bytes.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length));
    at += FRAME_HEADER_BYTES + length;
  }
  return bodies;
}
