/**
 * Every program in README.md and docs/api.md runs as written (from the sources: 'actor-raft' is
 * mapped to src/index.ts) in its own Node process, in an empty working directory, and prints what
 * the text says it prints. The packaging test runs the same programs against the packed tarball.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { docExamples, withPorts } from './fixtures/doc-examples.ts';
import { freePortRange } from './fixtures/port-range.ts';

const ROOT = new URL('../', import.meta.url);
const SRC_INDEX = fileURLToPath(new URL('src/index.ts', ROOT));
const SRC_SIM = fileURLToPath(new URL('src/sim/index.ts', ROOT));
const TSX = import.meta.resolve('tsx');

/** What each program must print (the lines its comments and the surrounding text promise). */
const expected: Record<string, RegExp[]> = {
  'README.md': [/^leader is node [123]$/m, /^committed at index \d+; the counter is 5$/m, /^node 3 reads 5$/m],
  'docs/api.md': [/^x=1 committed at index \d+; x was unset$/m, /^x is 1$/m],
};

const { runnable, contracts } = docExamples(ROOT);

test('the docs hold the programs this test knows, and one interface contract', () => {
  assert.equal(runnable.map((e) => e.where.split(':')[0]), ['README.md', 'docs/api.md']);
  assert.is(contracts.length, 1);
});

for (const ex of runnable) {
  test(`${ex.where} runs as written`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'actor-raft-example-'));
    try {
      const base = (await freePortRange(3)) - 1; // members use base + 1 .. base + 3
      const code = withPorts(ex.code, base).replaceAll("from 'actor-raft/sim'", `from ${JSON.stringify(SRC_SIM)}`).replaceAll("from 'actor-raft'", `from ${JSON.stringify(SRC_INDEX)}`);
      const file = join(dir, `example.${ex.lang === 'ts' ? 'mts' : 'mjs'}`);
      writeFileSync(file, code);
      const { FORCE_COLOR: _f, NO_COLOR: _n, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--import', TSX, file], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
      assert.is(r.status, 0, `${ex.where} exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
      for (const re of expected[ex.where.split(':')[0]!] ?? []) assert.match(r.stdout, re, `${ex.where} printed:\n${r.stdout}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
