/**
 * Frame protection, per cipher: what an on-path attacker without the keys can do to a stream of
 * sealed records (flip a byte, replay, reorder, drop, splice from another connection or direction)
 * is always detected by the next open, and an untouched stream opens to exactly what was sealed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { FRAME_CIPHERS, FRAME_TAG_BYTES, FrameAuthError, FrameOpener, FrameSealer, deriveFrameKeys } from '../src/io/frame-cipher.ts';
import type { FrameCipherName } from '../src/io/frame-cipher.ts';

type Sealed = Exclude<FrameCipherName, 'none'>;
const SEALED = FRAME_CIPHERS.filter((c): c is Sealed => c !== 'none');

function connection(cipher: Sealed) {
  const secret = Buffer.from('frame cipher test secret, 128 bits and more');
  const keys = deriveFrameKeys(secret, cipher, { nodeId: 1, nonce: randomBytes(16) }, { nodeId: 2, nonce: randomBytes(16) });
  return { keys, sealer: new FrameSealer(cipher, keys.dialerToAcceptor), opener: new FrameOpener(cipher, keys.dialerToAcceptor) };
}

const records = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`record ${i}: ${'x'.repeat(i * 7)}`));

test('every cipher is covered by this suite', () => {
  assert.equal([...SEALED].sort(), ['aes-256-gcm', 'aes-256-gmac', 'chacha20-poly1305', 'hmac-sha256']);
});

for (const cipher of SEALED) {
  test(`${cipher}: an untouched stream opens to what was sealed, in order`, () => {
    const { sealer, opener } = connection(cipher);
    for (const r of records(20)) {
      const sealed = sealer.seal(r);
      assert.is(sealed.length, r.length + FRAME_TAG_BYTES);
      assert.equal(Buffer.from(opener.open(sealed)), r);
    }
    assert.is(opener.opened, 20);
  });

  const attacks: [string, (sealed: Buffer[]) => Buffer[]][] = [
    ['a flipped body byte', (s) => [s[0]!, flip(s[1]!, 3)]],
    ['a flipped tag byte', (s) => [s[0]!, flip(s[1]!, s[1]!.length - 1)]],
    ['a replayed record', (s) => [s[0]!, s[0]!]],
    ['two records swapped', (s) => [s[1]!, s[0]!]],
    ['a dropped record', (s) => [s[1]!]],
    ['a truncated record', (s) => [s[0]!.subarray(0, FRAME_TAG_BYTES - 1)]],
  ];
  for (const [name, attack] of attacks) {
    test(`${cipher}: ${name} fails authentication`, () => {
      const { sealer, opener } = connection(cipher);
      const tampered = attack(records(2).map((r) => sealer.seal(r)));
      assert.throws(() => tampered.forEach((s) => opener.open(s)), (e: unknown) => e instanceof FrameAuthError);
    });
  }

  test(`${cipher}: a record from another connection or the other direction fails`, () => {
    const a = connection(cipher);
    const b = connection(cipher);
    const r = Buffer.from('same plaintext, same counter');
    assert.throws(() => b.opener.open(a.sealer.seal(r)), (e: unknown) => e instanceof FrameAuthError, 'other connection');
    const reverse = new FrameOpener(cipher, a.keys.acceptorToDialer);
    assert.throws(() => reverse.open(new FrameSealer(cipher, a.keys.dialerToAcceptor).seal(r)), (e: unknown) => e instanceof FrameAuthError, 'other direction');
  });
}

test('the AEADs hide the plaintext; aes-256-gmac and hmac-sha256 authenticate it and send it as is', () => {
  const r = Buffer.from('a plaintext that is long enough to find');
  for (const cipher of SEALED) {
    const sealed = connection(cipher).sealer.seal(r);
    assert.is(sealed.subarray(0, r.length).equals(r), cipher === 'hmac-sha256' || cipher === 'aes-256-gmac', cipher);
  }
});

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
}

test.run();
