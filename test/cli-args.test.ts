/**
 * `actor-raft` command-line parsing: bad flags are refused with a clear message (the CLI prints it
 * and exits with code 2), good ones give a validated command.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ClusterCommand, type NodeCommand, UsageError, parseCli } from '../src/cli/args.ts';

const PEERS = '1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003';
const GOOD = ['node', '--id', '1', '--peers', PEERS, '--data', './data/1', '--http', '127.0.0.1:8001', '--secret', '0123456789abcdef0123456789abcdef'];

/** GOOD with one flag replaced (value undefined: flag removed). */
function withFlag(flag: string, value: string | undefined): string[] {
  const out = [...GOOD];
  const i = out.indexOf(flag);
  if (i >= 0) out.splice(i, 2);
  if (value !== undefined) out.push(flag, value);
  return out;
}

const bad: [string, string[], RegExp, Record<string, string>?][] = [
  ['no command', [], /missing command/],
  ['unknown command', ['serve'], /unknown command "serve"/],
  ['unknown flag', [...GOOD, '--tls'], /unknown flag --tls/],
  ['unknown flag on cluster', ['cluster', '--replicas', '3'], /unknown flag --replicas/],
  ['stray positional', [...GOOD, 'extra'], /unexpected argument "extra"/],
  ['missing --id', withFlag('--id', undefined), /missing required flag --id/],
  ['missing --peers', withFlag('--peers', undefined), /missing required flag --peers/],
  ['missing --http', withFlag('--http', undefined), /missing required flag --http/],
  ['missing --data', withFlag('--data', undefined), /missing required flag --data/],
  ['--data and --memory', [...GOOD, '--memory'], /either --data DIR or --memory/],
  ['flag without its value', ['node', '--id'], /--id|argument missing/i],
  ['non-numeric --id', withFlag('--id', 'one'), /--id must be a whole number/],
  ['zero --id', withFlag('--id', '0'), /--id must be between 1/],
  ['--id not in --peers', withFlag('--id', '4'), /--id 4 is not one of the members in --peers \(1, 2, 3\)/],
  ['duplicate ids', withFlag('--peers', '1=127.0.0.1:7001,1=127.0.0.1:7002'), /duplicate member id 1/],
  ['duplicate addresses', withFlag('--peers', '1=127.0.0.1:7001,2=127.0.0.1:7001'), /members 1 and 2 share the address 127.0.0.1:7001/],
  ['peer without id', withFlag('--peers', '127.0.0.1:7001'), /is not id=host:port/],
  ['peer with a bad id', withFlag('--peers', 'x=127.0.0.1:7001'), /member id "x"/],
  ['peer without port', withFlag('--peers', '1=127.0.0.1'), /member 1 has a bad address "127.0.0.1"/],
  ['peer port out of range', withFlag('--peers', '1=127.0.0.1:70001'), /bad address "127.0.0.1:70001"/],
  ['empty item in peers', withFlag('--peers', `${PEERS},`), /empty item/],
  ['bad --http', withFlag('--http', 'localhost'), /--http: "localhost" is not a valid address/],
  ['bad --listen', [...GOOD, '--listen', ':7001'], /--listen: ":7001" is not a valid address/],
  ['bad --http-peers', [...GOOD, '--http-peers', '1=127.0.0.1:8001,2=nope'], /--http-peers: member 2 has a bad address/],
  ['--http-peers names a stranger', [...GOOD, '--http-peers', '1=127.0.0.1:8001,9=127.0.0.1:8009'], /member 9, which is not in --peers/],
  ['no secret for a multi-member cluster', withFlag('--secret', undefined), /needs a shared secret: set ACTOR_RAFT_SECRET/],
  ['empty secret', withFlag('--secret', ''), /secret must not be empty/],
  ['bad --tick', [...GOOD, '--tick', '10ms'], /--tick must be a whole number/],
  ['negative --tick', [...GOOD, '--tick', '-5'], /--tick|argument/],
  ['election tick not above heartbeat', [...GOOD, '--election-tick', '2', '--heartbeat-tick', '2'], /--election-tick \(2\) must be greater than --heartbeat-tick \(2\)/],
  ['bad log level', [...GOOD, '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error/],
  ['cluster: bad --nodes', ['cluster', '--nodes', 'three'], /--nodes must be a whole number/],
  ['cluster: zero nodes', ['cluster', '--nodes', '0'], /--nodes must be between 1 and 99/],
  ['cluster: port out of range', ['cluster', '--base-port', '65535'], /no room for 3 members/],
  ['cluster: overlapping ports', ['cluster', '--base-port', '8000', '--http-base-port', '8001'], /overlap/],
  ['cluster: bad host', ['cluster', '--host', 'a b'], /not a valid address/],
  ['--id given twice', [...GOOD, '--id', '2'], /--id is given more than once/],
  ['--cluster-id over 256 characters', [...GOOD, '--cluster-id', 'c'.repeat(257)], /--cluster-id must be at most 256 characters, got 257/],
  ['cluster: --cluster-id over 256 characters', ['cluster', '--cluster-id', 'c'.repeat(300)], /at most 256 characters/],
  ['localhost and 127.0.0.1 are one address', withFlag('--peers', '1=127.0.0.1:7001,2=localhost:7001'), /members 1 and 2 share the address localhost:7001/],
  ['LOCALHOST too', withFlag('--peers', '1=LOCALHOST:7001,2=127.0.0.1:7001'), /members 1 and 2 share the address/],
  ['weak secret', withFlag('--secret', 'x'), /secret is too weak: must carry at least 128 bits .*actor-raft secret/],
  ['weak secret from the environment', withFlag('--secret', undefined), /secret is too weak/, { ACTOR_RAFT_SECRET: 's3cret' }],
  ['hex secret of 31 characters', withFlag('--secret', '0123456789abcdef0123456789abcde'), /too weak/],
  ['non-loopback --http without a token', withFlag('--http', '10.0.0.1:8001'), /reachable from other machines .*--http-insecure/],
  ['0.0.0.0 --http without a token', withFlag('--http', '0.0.0.0:8001'), /ACTOR_RAFT_HTTP_TOKEN/],
  ['weak --http-token', [...GOOD, '--http-token', 'letmein'], /HTTP token is too weak/],
  ['--tls-cert alone', [...GOOD, '--tls-cert', 'c.pem'], /needs all of --tls-cert, --tls-key and --tls-ca/],
  ['--http-tls-key alone', [...GOOD, '--http-tls-key', 'k.pem'], /needs both --http-tls-cert and --http-tls-key/],
  ['--http-tls-ca alone', [...GOOD, '--http-tls-ca', 'ca.pem'], /needs both --http-tls-cert and --http-tls-key/],
  ['secret takes no arguments', ['secret', '--bits', '8'], /takes no arguments/],
  ['unknown --frame-cipher', [...GOOD, '--frame-cipher', 'rot13'], /--frame-cipher must be one of aes-256-gmac, hmac-sha256, chacha20-poly1305, aes-256-gcm, none/],
  ['--frame-cipher none without TLS', [...GOOD, '--frame-cipher', 'none'], /unauthenticated; it is allowed only with --tls-cert/],
];

for (const [name, argv, message, env] of bad) {
  test(`refuses: ${name}`, () => {
    try {
      parseCli(argv, env ?? {});
    } catch (err) {
      assert.instance(err, UsageError, `${name}: a UsageError (exit code 2), got ${(err as Error).name}: ${(err as Error).message}`);
      assert.match((err as Error).message, message);
      return;
    }
    assert.unreachable(`${name}: accepted ${JSON.stringify(argv)}`);
  });
}

test('accepts a full node command line', () => {
  const cmd = parseCli(
    [...GOOD, '--http-peers', '1=127.0.0.1:8001,2=127.0.0.1:8002,3=127.0.0.1:8003', '--cluster-id', 'prod', '--tick', '50', '--listen', '0.0.0.0:7001', '--disable-forwarding'],
    {},
  ) as NodeCommand;
  assert.is(cmd.command, 'node');
  assert.is(cmd.id, 1);
  assert.equal(cmd.peers, [
    { id: 1, address: '127.0.0.1:7001' },
    { id: 2, address: '127.0.0.1:7002' },
    { id: 3, address: '127.0.0.1:7003' },
  ]);
  assert.is(cmd.dataDir, './data/1');
  assert.is(cmd.http, '127.0.0.1:8001');
  assert.is(cmd.httpPeers.get(3), '127.0.0.1:8003');
  assert.is(cmd.secret, '0123456789abcdef0123456789abcdef');
  assert.is(cmd.clusterId, 'prod');
  assert.is(cmd.tickMs, 50);
  assert.is(cmd.listen, '0.0.0.0:7001');
  assert.is(cmd.disableForwarding, true);
  assert.is(cmd.electionTick, 10);
  assert.is(cmd.heartbeatTick, 1);
  assert.is(cmd.logLevel, 'info');
});

test('security flags: TLS files, HTTP token (flag or environment), --http-insecure, HTTPS; actor-raft secret', () => {
  const token = 'a-token-with-more-than-128-bits-0123456789';
  const tls = parseCli([...GOOD, '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem'], {}) as NodeCommand;
  assert.equal(tls.tls, { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem' });
  assert.is((parseCli(GOOD, {}) as NodeCommand).tls, undefined);
  assert.is((parseCli(withFlag('--http', '10.0.0.1:8001').concat('--http-token', token), {}) as NodeCommand).httpToken, token);
  assert.is((parseCli(withFlag('--http', '10.0.0.1:8001'), { ACTOR_RAFT_HTTP_TOKEN: token }) as NodeCommand).httpToken, token);
  const insecure = parseCli(withFlag('--http', '0.0.0.0:8001').concat('--http-insecure'), {}) as NodeCommand;
  assert.is(insecure.httpToken, undefined);
  for (const loopback of ['127.0.0.1:8001', '127.9.9.9:8001', 'localhost:8001', '[::1]:8001']) {
    assert.is((parseCli(withFlag('--http', loopback), {}) as NodeCommand).httpToken, undefined, loopback);
  }
  const https = parseCli([...GOOD, '--http-tls-cert', 'h.pem', '--http-tls-key', 'hk.pem'], {}) as NodeCommand;
  assert.equal(https.httpTls, { cert: 'h.pem', key: 'hk.pem' });
  const withCa = parseCli([...GOOD, '--http-tls-cert', 'h.pem', '--http-tls-key', 'hk.pem', '--http-tls-ca', 'ca.pem'], {}) as NodeCommand;
  assert.equal(withCa.httpTls, { cert: 'h.pem', key: 'hk.pem', ca: 'ca.pem' });
  assert.equal(parseCli(['secret'], {}), { command: 'secret' });
  assert.is((parseCli(GOOD, {}) as NodeCommand).frameCipher, undefined, 'the library default unless asked');
  assert.is((parseCli([...GOOD, '--frame-cipher', 'chacha20-poly1305'], {}) as NodeCommand).frameCipher, 'chacha20-poly1305');
  assert.is((parseCli([...GOOD, '--frame-cipher', 'none', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem'], {}) as NodeCommand).frameCipher, 'none');
  assert.ok(parseCli(withFlag('--cluster-id', 'c'.repeat(256)), {}));
});

test('the secret may come from ACTOR_RAFT_SECRET; --secret wins over it', () => {
  const fromEnv = parseCli(withFlag('--secret', undefined), { ACTOR_RAFT_SECRET: 'env-secret-env-secret-env-secret' }) as NodeCommand;
  assert.is(fromEnv.secret, 'env-secret-env-secret-env-secret');
  const fromFlag = parseCli(GOOD, { ACTOR_RAFT_SECRET: 'env-secret-env-secret-env-secret' }) as NodeCommand;
  assert.is(fromFlag.secret, '0123456789abcdef0123456789abcdef');
});

test('defaults: a single member needs no secret; --memory; our own HTTP address joins --http-peers; --flag=value form', () => {
  const cmd = parseCli(['node', '--id=7', '--peers=7=localhost:7007', '--memory', '--http=localhost:8007'], {}) as NodeCommand;
  assert.is(cmd.id, 7);
  assert.is(cmd.dataDir, '');
  assert.is(cmd.secret, undefined);
  assert.is(cmd.listen, undefined);
  assert.is(cmd.clusterId, 'actor-raft');
  assert.is(cmd.tickMs, 100);
  assert.is(cmd.requestTimeoutMs, 5000);
  assert.is(cmd.httpPeers.get(7), 'localhost:8007');
});

test('accepts IPv6 addresses in brackets and hostnames', () => {
  const cmd = parseCli(['node', '--id', '2', '--peers', '1=[::1]:7001,2=db-2.internal:7001', '--data', 'd', '--http', '[::1]:8002', '--secret', 'fedcba9876543210fedcba9876543210'], {}) as NodeCommand;
  assert.equal(
    cmd.peers.map((p) => p.address),
    ['[::1]:7001', 'db-2.internal:7001'],
  );
});

test('cluster defaults and flags', () => {
  const def = parseCli(['cluster'], {}) as ClusterCommand;
  assert.equal(
    { nodes: def.nodes, dataDir: def.dataDir, host: def.host, basePort: def.basePort, httpBasePort: def.httpBasePort, tickMs: def.tickMs },
    { nodes: 3, dataDir: './data', host: '127.0.0.1', basePort: 7001, httpBasePort: 8001, tickMs: 100 },
  );
  const five = parseCli(['cluster', '--nodes', '5', '--data', '/tmp/x', '--base-port', '9001', '--http-base-port', '9101', '--tick', '20'], {}) as ClusterCommand;
  assert.is(five.nodes, 5);
  assert.is(five.basePort, 9001);
  assert.is(five.httpBasePort, 9101);
  assert.is(five.tickMs, 20);
});

test('help', () => {
  for (const argv of [['help'], ['--help'], ['node', '--help'], ['cluster', '-h']]) {
    const cmd = parseCli(argv, {});
    assert.is(cmd.command, 'help', argv.join(' '));
    if (cmd.command === 'help') assert.match(cmd.text, /actor-raft node --id N/);
  }
});

test.run();
