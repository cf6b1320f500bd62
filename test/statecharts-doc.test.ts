import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statechartsDocument } from '../scripts/statecharts.ts';

test('docs/statecharts.md is generated from the current machines', () => {
  const onDisk = readFileSync(new URL('../docs/statecharts.md', import.meta.url), 'utf8');
  assert.ok(
    onDisk === statechartsDocument(),
    'docs/statecharts.md is stale: run `node --import tsx scripts/statecharts.ts --write`',
  );
});

test('every role of the Raft paper is a state of the role machine', () => {
  const doc = statechartsDocument();
  for (const s of ['follower', 'preCandidate', 'candidate', 'leader']) assert.match(doc, new RegExp(`\\b${s}\\b`));
  assert.match(doc, /candidate --> leader: \[wonElection\]/);
});

test.run();
