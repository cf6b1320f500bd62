/**
 * The hello's member-identity fields (docs/membership.md): whether the sender's store is empty and
 * what it recorded for the receiver travel intact, are validated, and are covered by the proof.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidMessageError } from '../src/errors.ts';
import { computeProof, verifyProof } from '../src/io/handshake.ts';
import { type Hello, PROTOCOL_NAME, PROTOCOL_VERSION, decodeHello, encodeHello } from '../src/io/wire.ts';
import { Packr } from 'msgpackr';

const hello = (extra: Partial<Hello> = {}): Hello => ({
  protocol: PROTOCOL_NAME,
  version: PROTOCOL_VERSION,
  clusterId: 'c',
  nodeId: 1,
  peerId: 2,
  nonce: randomBytes(32),
  incarnation: randomBytes(16),
  ...extra,
});

test('pristine and knowsYouAs round-trip; absent stays absent', () => {
  const known = randomBytes(16);
  const cases: [string, Partial<Hello>][] = [
    ['a member that knows the receiver', { knowsYouAs: known }],
    ['an empty store', { pristine: true }],
    ['neither', {}],
    ['a process run id', { boot: randomBytes(16) }],
  ];
  for (const [name, extra] of cases) {
    const h = hello(extra);
    const back = decodeHello(encodeHello(h));
    assert.is(back.pristine, extra.pristine, name);
    assert.equal(back.knowsYouAs ? Buffer.from(back.knowsYouAs) : undefined, extra.knowsYouAs ? Buffer.from(extra.knowsYouAs) : undefined, name);
    assert.equal(back.boot ? Buffer.from(back.boot) : undefined, extra.boot ? Buffer.from(extra.boot) : undefined, name);
  }
});

test('a malformed identity field is refused', () => {
  const packr = new Packr({ useRecords: false });
  const base = { ...hello() };
  for (const [name, extra] of [
    ['short knowsYouAs', { knowsYouAs: randomBytes(5) }],
    ['knowsYouAs as text', { knowsYouAs: 'a'.repeat(16) }],
    ['pristine as a number', { pristine: 1 }],
  ] as const) {
    assert.throws(() => decodeHello(packr.pack({ ...base, ...extra })), (e: unknown) => e instanceof InvalidMessageError, name);
  }
});

test('the proof covers the identity fields: a changed claim fails verification', () => {
  const secret = Buffer.from('secret');
  const prover = hello({ knowsYouAs: randomBytes(16) });
  const verifier = hello({ nodeId: 2, peerId: 1 });
  const proof = computeProof(secret, 'dialer', prover, verifier, 'chacha20-poly1305');
  assert.ok(verifyProof(secret, 'dialer', prover, verifier, proof, 'chacha20-poly1305'));
  assert.not.ok(verifyProof(secret, 'dialer', { ...prover, knowsYouAs: randomBytes(16) }, verifier, proof, 'chacha20-poly1305'), 'another knowsYouAs');
  assert.not.ok(verifyProof(secret, 'dialer', { ...prover, pristine: true }, verifier, proof, 'chacha20-poly1305'), 'pristine claimed');
  assert.not.ok(verifyProof(secret, 'dialer', { ...prover, boot: randomBytes(16) }, verifier, proof, 'chacha20-poly1305'), 'another process run claimed');
});

test.run();
