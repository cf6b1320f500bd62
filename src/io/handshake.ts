/**
 * Peer authentication: both ends of a connection prove knowledge of the cluster secret without
 * sending it, with HMAC-SHA256 over a fresh challenge from the other side.
 *
 *   dialer   → hello(nonce_d)
 *   acceptor → hello(nonce_a), proof_a = HMAC(secret, "acceptor" ‖ ids ‖ nonce_a ‖ nonce_d ‖ ...)
 *   dialer   → proof_d = HMAC(secret, "dialer" ‖ ids ‖ nonce_d ‖ nonce_a ‖ ...)
 *
 * Each proof covers the challenge chosen by the verifier, so an old proof is useless on a new
 * connection (no replay). The role label differs per direction, so a proof obtained from one side
 * can never be reflected back as the other side's proof. The acceptor answers the dialer's hello
 * only after checking that the dialer names a known peer of this cluster and addresses this node,
 * so a stranger learns nothing but that the port speaks this protocol. Proofs are compared with
 * `timingSafeEqual`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FrameCipherName } from './frame-cipher.ts';
import { PROTOCOL_NAME, PROTOCOL_VERSION } from './wire.ts';
import type { Hello } from './wire.ts';

export type HandshakeRole = 'dialer' | 'acceptor';

/** Why a hello was refused; recorded in stats and in the close reason. */
export type HelloProblem = 'protocol' | 'version' | 'cluster' | 'unknownPeer' | 'wrongPeer' | 'self';

export interface HelloExpectations {
  readonly clusterId: string;
  readonly selfId: number;
  /** Set on the dialer: the node it dialed. The acceptor learns it from the hello. */
  readonly expectedPeerId?: number;
  readonly isKnownPeer: (nodeId: number) => boolean;
}

/** Undefined when the hello is acceptable, otherwise the first reason it is not. */
export function helloProblem(hello: Hello, expect: HelloExpectations): HelloProblem | undefined {
  if (hello.protocol !== PROTOCOL_NAME) return 'protocol';
  if (hello.version !== PROTOCOL_VERSION) return 'version';
  if (hello.clusterId !== expect.clusterId) return 'cluster';
  if (hello.nodeId === expect.selfId) return 'self';
  if (expect.expectedPeerId !== undefined && hello.nodeId !== expect.expectedPeerId) return 'wrongPeer';
  if (!expect.isKnownPeer(hello.nodeId)) return 'unknownPeer';
  if (hello.peerId !== expect.selfId) return 'wrongPeer';
  return undefined;
}

/**
 * The proof `prover` sends to `verifier`. Every field of both hellos that matters to the session
 * goes into the MAC, each length-prefixed so no two different inputs serialize alike.
 */
export function computeProof(secret: Uint8Array, role: HandshakeRole, prover: Hello, verifier: Hello, frameCipher: FrameCipherName): Buffer {
  const mac = createHmac('sha256', secret);
  const field = (bytes: Uint8Array) => {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.length, 0);
    mac.update(len);
    mac.update(bytes);
  };
  const text = (s: string) => field(Buffer.from(s, 'utf8'));
  const id = (n: number) => text(String(n));
  // The frame cipher is part of the proof: two ends configured differently fail the handshake
  // (badProof) instead of failing every frame after it.
  text(`${PROTOCOL_NAME}/${PROTOCOL_VERSION}/${role}/${frameCipher}`);
  text(prover.clusterId);
  id(prover.nodeId);
  id(verifier.nodeId);
  field(prover.nonce);
  field(verifier.nonce);
  field(prover.incarnation);
  field(verifier.incarnation);
  // What the prover says about member identity must not be forgeable by a man in the middle either.
  field(prover.boot ?? new Uint8Array(0));
  text(prover.pristine ? 'pristine' : 'member');
  field(prover.knowsYouAs ?? new Uint8Array(0));
  return mac.digest();
}

/** Constant-time check of a proof received from `prover`. */
export function verifyProof(
  secret: Uint8Array,
  role: HandshakeRole,
  prover: Hello,
  verifier: Hello,
  proof: Uint8Array,
  frameCipher: FrameCipherName,
): boolean {
  const expected = computeProof(secret, role, prover, verifier, frameCipher);
  return proof.length === expected.length && timingSafeEqual(proof, expected);
}
