import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder, FrameTooLargeError, encodeFrame, encodeFrames } from '../src/io/frame.ts';

const isTooLarge = (e: unknown) => e instanceof FrameTooLargeError;

const bodies = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(300, 7)];
const stream = encodeFrames(bodies);

function decodeInChunks(bytes: Buffer, cuts: number[], limit = 1024): Buffer[] {
  const d = new FrameDecoder(limit);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...d.push(bytes.subarray(at, cut)).map((b) => Buffer.from(b)));
    at = cut;
  }
  assert.is(d.pendingBytes, 0, 'nothing left over');
  return out;
}

test('encodeFrame writes a 4-byte big-endian length before the body', () => {
  const f = encodeFrame(Buffer.from([1, 2, 3]));
  assert.equal([...f], [0, 0, 0, 3, 1, 2, 3]);
  assert.equal([...encodeFrame(Buffer.alloc(0))], [0, 0, 0, 0]);
  assert.equal([...encodeFrame(Buffer.alloc(258)).subarray(0, 4)], [0, 0, 1, 2]);
});

test('coalesced: many frames in one chunk come out in order', () => {
  assert.equal(decodeInChunks(stream, []), bodies);
});

test('split at every byte position (one cut)', () => {
  for (let cut = 1; cut < stream.length; cut++) assert.equal(decodeInChunks(stream, [cut]), bodies, `cut at ${cut}`);
});

test('one byte at a time, including headers split across chunks', () => {
  const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
  assert.equal(decodeInChunks(stream, cuts), bodies);
});

test('random splits', () => {
  let seed = 99;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 200; round++) {
    const cuts = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => 1 + Math.floor(rnd() * (stream.length - 1))))].sort(
      (a, b) => a - b,
    );
    assert.equal(decodeInChunks(stream, cuts), bodies, `cuts ${cuts}`);
  }
});

test('truncated frames yield nothing until the rest arrives', () => {
  const d = new FrameDecoder(1024);
  const f = encodeFrame(Buffer.from('truncated body'));
  assert.equal(d.push(f.subarray(0, 2)), [], 'half a header');
  assert.equal(d.push(f.subarray(2, 9)), [], 'header and part of the body');
  assert.is(d.pendingBytes, 9);
  assert.equal(d.push(f.subarray(9)).map(String), ['truncated body']);
  assert.is(d.pendingBytes, 0);
});

test('a frame exactly at the cap is accepted; one byte more is refused', () => {
  const d = new FrameDecoder(16);
  assert.is(d.push(encodeFrame(Buffer.alloc(16)))[0]!.length, 16);
  assert.throws(() => d.push(encodeFrame(Buffer.alloc(17))), (e: unknown) => e instanceof FrameTooLargeError && e.announced === 17 && e.limit === 16);
});

test('the cap is enforced from the header alone, before any body byte is buffered', () => {
  const cases: [string, Buffer][] = [
    ['4 GiB announced', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['2 MiB announced', Buffer.from([0x00, 0x20, 0x00, 0x00])],
    ['1025 announced', Buffer.from([0, 0, 4, 1])],
  ];
  for (const [name, header] of cases) {
    const d = new FrameDecoder(1024);
    assert.throws(() => d.push(header), isTooLarge, name);
    assert.is(d.pendingBytes, 0, `${name}: buffer released`);
  }
});

test('a huge length prefix split across chunks is refused once the header is complete', () => {
  const d = new FrameDecoder(1024);
  assert.equal(d.push(Buffer.from([0x7f])), []);
  assert.equal(d.push(Buffer.from([0xff, 0xff])), []);
  assert.throws(() => d.push(Buffer.from([0xff])), isTooLarge);
});

test('frames after a good one are refused if oversized (the good one is still returned first)', () => {
  const d = new FrameDecoder(8);
  const good = encodeFrame(Buffer.from('ok'));
  assert.equal(d.push(good).map(String), ['ok']);
  assert.throws(() => d.push(Buffer.concat([good, Buffer.from([0, 0, 0, 9])])), isTooLarge);
});

test('the limit can be raised after authentication', () => {
  const d = new FrameDecoder(4);
  d.setLimit(64);
  assert.is(d.limit, 64);
  assert.is(d.push(encodeFrame(Buffer.alloc(60)))[0]!.length, 60);
  assert.throws(() => d.setLimit(-1), /frame limit/);
  assert.throws(() => new FrameDecoder(2 ** 33), /frame limit/);
});

test('plain Uint8Array chunks work as well as Buffers', () => {
  const d = new FrameDecoder(64);
  const f = encodeFrame(Buffer.from('xyz'));
  const u8 = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.length));
  assert.equal(d.push(u8).map(String), ['xyz']);
});

test.run();
