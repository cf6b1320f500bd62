/** `actor-raft node --initial-cluster-state` and `--join` (docs/membership.md). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError, parseCli } from '../src/cli/args.ts';

const base = ['node', '--id', '1', '--peers', '1=127.0.0.1:7001,2=127.0.0.1:7002', '--http', '127.0.0.1:8001', '--secret', '0123456789abcdef0123456789abcdef'];

test('defaults and accepted forms', () => {
  const cases: [string, string[], 'new' | 'existing', boolean][] = [
    ['a data directory is never founded by default', ['--data', 'd'], 'existing', false],
    ['a memory node always starts empty: it may found', ['--memory'], 'new', false],
    ['told to found', ['--data', 'd', '--initial-cluster-state', 'new'], 'new', false],
    ['explicitly existing', ['--data', 'd', '--initial-cluster-state=existing'], 'existing', false],
    ['joining', ['--data', 'd', '--join'], 'existing', true],
  ];
  for (const [name, args, state, join] of cases) {
    const cmd = parseCli([...base, ...args]);
    assert.is(cmd.command, 'node', name);
    if (cmd.command !== 'node') continue;
    assert.is(cmd.initialClusterState, state, name);
    assert.is(cmd.join, join, name);
  }
});

test('refused: an unknown state, and founding while joining', () => {
  const cases: [string[], RegExp][] = [
    [['--data', 'd', '--initial-cluster-state', 'maybe'], /--initial-cluster-state must be new or existing/],
    [['--data', 'd', '--join', '--initial-cluster-state', 'new'], /--join and --initial-cluster-state new contradict/],
  ];
  for (const [args, re] of cases) {
    assert.throws(() => parseCli([...base, ...args]), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), args.join(' '));
  }
});

test.run();
