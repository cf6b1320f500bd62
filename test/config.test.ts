import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultConfig, resolveConfig } from '../src/config.ts';
import { ConfigError } from '../src/errors.ts';

const peers = [
  { id: 1, address: '127.0.0.1:7001' },
  { id: 2, address: '127.0.0.1:7002' },
];

test('defaults are the Go package defaults', () => {
  const d = defaultConfig();
  assert.equal(
    { ...d },
    {
      nodeId: 0,
      peers: [],
      dataDir: '',
      tickInterval: 100,
      electionTick: 10,
      heartbeatTick: 1,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      snapshotInterval: 10000,
      snapshotCatchUpEntries: 5000,
      preVote: true,
      checkQuorum: true,
      disableProposalForwarding: false,
      maxSnapshotBytes: 1024 * 1024 * 1024,
      readOnlyOption: 'safe',
    },
  );
});

test('resolveConfig fills defaults and freezes', () => {
  const c = resolveConfig({ nodeId: 1, peers });
  assert.is(c.electionTick, 10);
  assert.ok(Object.isFrozen(c));
});

test('bad configs are refused with a ConfigError naming the field', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ nodeId: 0 }, 'nodeId'],
    [{ nodeId: -1 }, 'nodeId'],
    [{ nodeId: 1.5 }, 'nodeId'],
    [{ nodeId: 1, electionTick: 1, heartbeatTick: 1 }, 'electionTick'],
    [{ nodeId: 1, electionTick: 3, heartbeatTick: 5 }, 'electionTick'],
    [{ nodeId: 1, heartbeatTick: 0 }, 'heartbeatTick'],
    [{ nodeId: 1, maxInflightMsgs: 0 }, 'maxInflightMsgs'],
    [{ nodeId: 1, maxSizePerMsg: 0 }, 'maxSizePerMsg'],
    [{ nodeId: 1, tickInterval: 0 }, 'tickInterval'],
    [{ nodeId: 1, snapshotInterval: 0 }, 'snapshotInterval'],
    [{ nodeId: 1, snapshotCatchUpEntries: -1 }, 'snapshotCatchUpEntries'],
    [{ nodeId: 1, preVote: 'yes' }, 'preVote'],
    [{ nodeId: 1, maxSnapshotBytes: 0 }, 'maxSnapshotBytes'],
    [{ nodeId: 1, maxSnapshotBytes: 2.5 }, 'maxSnapshotBytes'],
    [{ nodeId: 1, maxSnapshotBytes: '1GiB' }, 'maxSnapshotBytes'],
    [{ nodeId: 1, readOnlyOption: 'lease' }, 'readOnlyOption'],
    [{ nodeId: 1, readOnlyOption: 'leaseBased', checkQuorum: false }, 'readOnlyOption'],
    [{ nodeId: 1, peers: [{ id: 1, address: 'a:1' }, { id: 1, address: 'b:2' }] }, 'peers[1].id'],
    [{ nodeId: 1, peers: [{ id: 0, address: 'a:1' }] }, 'peers[0].id'],
    [{ nodeId: 1, peers: [{ id: 2, address: 'nohost' }] }, 'peers[0].address'],
    [{ nodeId: 1, peers: [{ id: 2, address: 'h:70000' }] }, 'peers[0].address'],
    [{ nodeId: 1, electionTicks: 5 }, 'electionTicks'],
  ];
  for (const [input, field] of cases) {
    try {
      resolveConfig(input as never);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      assert.instance(err, ConfigError, JSON.stringify(input));
      assert.is((err as ConfigError).field, field, JSON.stringify(input));
      assert.match((err as Error).message, field);
    }
  }
});

test.run();
