/**
 * Membership for operators, end to end with real processes: a three-member `actor-raft node`
 * cluster grows by a learner (`actor-raft member add --learner`, then `node --join`), the learner
 * is promoted, and a member is removed, each through `actor-raft member` pointed at a follower (so
 * the change is relayed to the leader). Refusals (an unknown member, an existing one) exit 1 with
 * the reason and change nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProcessCluster, closeHttpAgent, httpRequest, runCli, waitFor } from './fixtures/cli-cluster.ts';

interface MemberRow {
  id: number;
  address: string | null;
  role: 'voter' | 'learner';
  leader: boolean;
  match?: number;
}

test('member add --learner, node --join, member promote, member remove: through a follower, with real processes', async () => {
  const cluster = await ProcessCluster.create(4, { tickMs: 50 });
  const [m1, m2, m3, m4] = [1, 2, 3, 4].map((id) => cluster.member(id)) as [typeof cluster.members[0], typeof cluster.members[0], typeof cluster.members[0], typeof cluster.members[0]];
  const first3 = [m1, m2, m3];
  // Members 1-3 form the cluster; member 4 is not part of it until it is added.
  const initial = ['--peers', first3.map((m) => `${m.id}=${m.raft}`).join(','), '--http-peers', first3.map((m) => `${m.id}=${m.http}`).join(',')];
  const endpointOf = (id: number) => `http://${cluster.member(id).http}`;
  const member = async (args: string[], endpoint: number) => {
    const r = await runCli(['member', ...args, '--endpoint', endpointOf(endpoint), '--timeout', '30000']);
    return r;
  };
  const list = async (endpoint: number): Promise<{ leader: number; members: MemberRow[] }> => {
    const r = await member(['list', '--json'], endpoint);
    assert.is(r.code, 0, `member list failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { leader: number; members: MemberRow[] };
  };
  const roles = (rows: MemberRow[]) => rows.map((r) => `${r.id}:${r.role}`).sort().join(' ');
  try {
    await Promise.all([1, 2, 3].map((id) => cluster.start(id, initial)));
    const leader = await waitFor(() => cluster.agreedLeader(), 'a leader', 20_000);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    for (let i = 0; i < 20; i++) {
      const res = await httpRequest(cluster.member(leader).http, 'PUT', `/kv/before-${i}`, `v${i}`);
      assert.is(res.status, 200, res.text);
    }

    // A follower relays admin requests to the leader and says so.
    const relayed = await httpRequest(cluster.member(follower).http, 'GET', '/members');
    assert.is(relayed.status, 200, relayed.text);
    assert.is(relayed.headers['x-raft-forwarded-to'], String(leader));
    assert.is((JSON.parse(relayed.text) as { leader: number }).leader, leader);

    // The table a person reads.
    const table = await member(['list'], follower);
    assert.is(table.code, 0, table.stderr);
    assert.match(table.stdout, /ID\s+ROLE\s+RAFT ADDRESS\s+LEADER/);
    assert.match(table.stdout, new RegExp(`\\n${leader}\\s+voter\\s+\\S+\\s+yes`));

    // 1. Add member 4 as a learner through a follower, then start it empty with --join.
    const added = await member(['add', '4', m4.raft, '--learner'], follower);
    assert.is(added.code, 0, `member add failed: ${added.stderr}`);
    assert.match(added.stdout, new RegExp(`added learner 4 \\(${m4.raft.replace(/\./g, '\\.')}\\) at index \\d+`));
    assert.is(roles((await list(follower)).members), '1:voter 2:voter 3:voter 4:learner');
    await cluster.start(4, ['--join']);

    // 2. Promote it (the command waits while the learner catches up), again through a follower.
    const promoted = await member(['promote', '4'], follower);
    assert.is(promoted.code, 0, `member promote failed: ${promoted.stderr}\n${cluster.output()}`);
    assert.match(promoted.stdout, /promoted learner 4 to voter/);
    const afterPromote = await list(follower);
    assert.is(roles(afterPromote.members), '1:voter 2:voter 3:voter 4:voter');
    assert.is(afterPromote.members.find((r) => r.id === 4)!.address, m4.raft);

    // Refusals: nothing is proposed, the reason is printed, exit code 1.
    const refusals: [string, string[], RegExp][] = [
      ['add an existing voter', ['add', '4', m4.raft], /409: node 4 is already a voter/],
      ['remove a stranger', ['remove', '9'], /404: node 9 is not a member/],
      ['promote a voter', ['promote', '2'], /409: node 2 is already a voter/],
    ];
    const answers = await Promise.all(refusals.map(([, args]) => member(args, follower)));
    refusals.forEach(([what, , expected], i) => {
      assert.is(answers[i]!.code, 1, `${what}: exit code`);
      assert.match(answers[i]!.stderr, expected, what);
    });

    // 3. Remove a follower (not the one we talk to), then stop it: the other three carry on.
    const victim = [1, 2, 3].find((id) => id !== leader && id !== follower)!;
    const removed = await member(['remove', String(victim)], follower);
    assert.is(removed.code, 0, `member remove failed: ${removed.stderr}`);
    assert.match(removed.stdout, new RegExp(`removed member ${victim} at index \\d+`));
    await cluster.kill(victim);
    const afterRemove = await list(4);
    assert.is(roles(afterRemove.members), [1, 2, 3, 4].filter((id) => id !== victim).map((id) => `${id}:voter`).join(' '));

    // The new member takes writes and serves linearizable reads of everything.
    const put = await httpRequest(m4.http, 'PUT', '/kv/after', 'membership');
    assert.is(put.status, 200, put.text);
    const read = await httpRequest(m4.http, 'GET', '/kv/before-7');
    assert.is(read.status, 200, read.text);
    assert.is(read.text, 'v7');
    const digests = await waitFor(async () => {
      const bodies = await Promise.all([leader, follower, 4].map(async (id) => JSON.parse((await httpRequest(cluster.member(id).http, 'GET', '/kv?digest=true&stale=true')).text) as { applied: number; digest: string }));
      return bodies.every((b) => b.digest === bodies[0]!.digest && b.applied === bodies[0]!.applied) ? bodies : undefined;
    }, 'equal digests on the three remaining members', 10_000);
    assert.ok(digests[0]!.applied > 0);
  } catch (err) {
    console.error(cluster.output());
    throw err;
  } finally {
    await cluster.destroy();
    closeHttpAgent();
  }
});

test.run();
