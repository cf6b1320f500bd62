/**
 * `actor-raft node` with mutual TLS between members (--tls-cert/--tls-key/--tls-ca): three real
 * processes elect a leader and commit a write through the HTTP API, and their Raft ports speak TLS
 * that requires a client certificate signed by the CA. One shared self-signed certificate (made by
 * openssl, a prerequisite of the suite) serves as every member's certificate and as the CA.
 */
import { connect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProcessCluster, closeHttpAgent, httpRequest, waitFor } from './fixtures/cli-cluster.ts';
import { selfSignedCert } from './fixtures/tls-cert.ts';

/**
 * Opens a TLS connection to a Raft port presenting `client` and says how the member answered:
 * whether the handshake verified the member's certificate, and whether the member dropped the
 * connection (with or without an alert) within `holdMs` instead of waiting for the Raft handshake.
 */
function probe(address: string, ca: string, client: { cert: string; key: string }, holdMs = 500): Promise<{ handshake: boolean; servedCN: string; dropped: boolean; error: string | undefined }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)), ca, cert: client.cert, key: client.key, servername: 'localhost' });
    let handshake = false;
    let servedCN = '';
    let error: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let held = false;
    socket.on('secureConnect', () => {
      handshake = socket.authorized;
      servedCN = String(socket.getPeerCertificate().subject?.CN ?? '');
      // Under TLS 1.3 the server checks the client certificate after the client's handshake ends:
      // a refusal arrives right after it; an accepted client is simply not spoken to.
      socket.resume();
      timer = setTimeout(() => ((held = true), socket.destroy()), holdMs);
    });
    socket.on('error', (e) => (error = e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ handshake, servedCN, dropped: !held, error });
    });
  });
}

test('three processes with mutual TLS between members elect a leader and commit a write', async () => {
  const shared = selfSignedCert('/CN=actor-raft-members');
  const stranger = selfSignedCert('/CN=not-a-member');
  const cluster = await ProcessCluster.create(3, { tickMs: 50 });
  try {
    const tlsArgs = ['--tls-cert', shared.certFile, '--tls-key', shared.keyFile, '--tls-ca', shared.certFile];
    await Promise.all(cluster.members.map((m) => cluster.start(m.id, tlsArgs)));
    const leader = await waitFor(() => cluster.agreedLeader(), 'a leader every member agrees on', 15_000);
    const put = await httpRequest(cluster.member(leader).http, 'PUT', '/kv/over-tls', 'committed');
    assert.is(put.status, 200, put.text);
    const index = (JSON.parse(put.text) as { index: number }).index;
    for (const m of cluster.members) {
      await waitFor(async () => ((await cluster.status(m.id))?.kv.applied ?? 0) >= index || undefined, `node ${m.id} applies index ${index}`, 10_000);
      const got = await httpRequest(m.http, 'GET', '/kv/over-tls?stale=true');
      assert.is(got.text, 'committed', `node ${m.id} holds the write`);
    }

    const follower = cluster.members.find((m) => m.id !== leader)!;
    const member = await probe(follower.raft, shared.cert, shared);
    assert.ok(member.handshake, 'the Raft port speaks TLS with the cluster certificate');
    assert.is(member.servedCN, 'actor-raft-members');
    assert.not.ok(member.dropped, `a member's certificate is accepted: ${JSON.stringify(member)}`);
    const outsider = await probe(follower.raft, shared.cert, stranger);
    assert.ok(outsider.dropped, `a client certificate not signed by the CA is refused: ${JSON.stringify(outsider)}`);
  } catch (err) {
    console.error(cluster.output());
    throw err;
  } finally {
    closeHttpAgent();
    await cluster.destroy();
    shared.remove();
    stranger.remove();
  }
});

test.run();
