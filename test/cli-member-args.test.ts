/**
 * `actor-raft member ...` and `actor-raft node --join` command lines: bad ones are refused with a
 * clear message (exit code 2), good ones give a validated command.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type MemberCommand, type NodeCommand, UsageError, parseCli } from '../src/cli/args.ts';

const bad: [string, string[], RegExp][] = [
  ['no action', ['member'], /missing member action/],
  ['unknown action', ['member', 'rename', '3'], /unknown member action "rename"/],
  ['add without id', ['member', 'add'], /missing the member id/],
  ['add without address', ['member', 'add', '4'], /missing the new member's Raft address/],
  ['add with a bad address', ['member', 'add', '4', 'localhost'], /"localhost" is not a valid Raft address/],
  ['add with a bad id', ['member', 'add', 'four', '127.0.0.1:7004'], /member id "four" must be a positive whole number/],
  ['zero id', ['member', 'remove', '0'], /member id "0" must be a positive whole number/],
  ['remove without id', ['member', 'remove'], /missing the member id: actor-raft member remove ID/],
  ['promote with two ids', ['member', 'promote', '4', '5'], /unexpected argument "5"/],
  ['transfer without id', ['member', 'transfer'], /missing the member id: actor-raft member transfer ID/],
  ['--learner on transfer', ['member', 'transfer', '2', '--learner'], /--learner only goes with "actor-raft member add"/],
  ['list with an argument', ['member', 'list', 'all'], /unexpected argument "all"/],
  ['--learner on remove', ['member', 'remove', '3', '--learner'], /--learner only goes with "actor-raft member add"/],
  ['--stale on add', ['member', 'add', '4', '127.0.0.1:7004', '--stale'], /--stale only goes with "actor-raft member list"/],
  ['endpoint with a path', ['member', 'list', '--endpoint', 'http://127.0.0.1:8001/members'], /without a path/],
  ['endpoint of another scheme', ['member', 'list', '--endpoint', 'ftp://127.0.0.1:8001'], /must be an http:\/\/ or https:\/\/ URL/],
  ['empty endpoint item', ['member', 'list', '--endpoint', 'http://127.0.0.1:8001,'], /empty item/],
  ['unknown flag', ['member', 'list', '--force'], /unknown flag --force for "actor-raft member"/],
  ['bad timeout', ['member', 'list', '--timeout', 'soon'], /--timeout must be a whole number/],
];

for (const [name, argv, message] of bad) {
  test(`refuses: ${name}`, () => {
    try {
      parseCli(argv, {});
    } catch (err) {
      assert.instance(err, UsageError, `${name}: a UsageError, got ${(err as Error).name}: ${(err as Error).message}`);
      assert.match((err as Error).message, message);
      return;
    }
    assert.unreachable(`${name}: accepted ${JSON.stringify(argv)}`);
  });
}

const good: [string, string[], Record<string, string>, Partial<MemberCommand> & Record<string, unknown>][] = [
  ['list, default endpoint', ['member', 'list'], {}, { action: 'list', stale: false, endpoints: ['http://127.0.0.1:8001'], timeoutMs: 30_000, json: false }],
  ['list from the environment', ['member', 'list', '--stale', '--json'], { ACTOR_RAFT_ENDPOINT: 'http://10.0.0.2:8001' }, { action: 'list', stale: true, json: true, endpoints: ['http://10.0.0.2:8001'] }],
  ['add a learner, bare host:port endpoints', ['member', 'add', '4', '10.0.0.4:7001', '--learner', '--endpoint', '10.0.0.1:8001,https://10.0.0.2:8443'], {}, { action: 'add', id: 4, address: '10.0.0.4:7001', learner: true, endpoints: ['http://10.0.0.1:8001', 'https://10.0.0.2:8443'] }],
  ['add a voter, flag before the action', ['member', '--endpoint', 'http://[::1]:8001', 'add', '5', '[::1]:7005'], {}, { action: 'add', id: 5, learner: false, endpoints: ['http://[::1]:8001'] }],
  ['remove', ['member', 'remove', '3', '--timeout', '0'], {}, { action: 'remove', id: 3, timeoutMs: 0 }],
  ['promote', ['member', 'promote', '4'], {}, { action: 'promote', id: 4 }],
  ['transfer', ['member', 'transfer', '2'], {}, { action: 'transfer', id: 2 }],
];

for (const [name, argv, env, expected] of good) {
  test(`accepts: ${name}`, () => {
    const cmd = parseCli(argv, env) as MemberCommand & Record<string, unknown>;
    assert.is(cmd.command, 'member');
    for (const [k, v] of Object.entries(expected)) assert.equal(cmd[k], v, `${name}: ${k}`);
  });
}

test('node --join', () => {
  const base = ['node', '--id', '4', '--peers', '1=127.0.0.1:7001,4=127.0.0.1:7004', '--data', 'd', '--http', '127.0.0.1:8004', '--secret', '0123456789abcdef0123456789abcdef'];
  assert.is((parseCli(base, {}) as NodeCommand).join, false);
  assert.is((parseCli([...base, '--join'], {}) as NodeCommand).join, true);
});

test.run();
