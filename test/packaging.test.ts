/**
 * The package as a user gets it: `npm pack` (which builds dist/), the tarball installed into an
 * empty app with its dependencies from the registry, then
 *   (a) plain `node` runs the README's program (a 3-member cluster on loopback: propose, read, stop)
 *       and the `actor-raft` bin answers --version,
 *   (b) a plain `node` script runs a seeded simulation from `actor-raft/sim`,
 *   (c) TypeScript 5 with `strict`, `exactOptionalPropertyTypes`, `moduleResolution: nodenext` and
 *       `skipLibCheck: false` type-checks docs/api.md's program plus the options users pass
 *       (`secret: process.env.RAFT_SECRET`, `@statelyai/inspect`'s inspector) against the shipped types,
 *   (d) the actors and machines are found under `actor-raft/internals`, and not in `actor-raft`.
 * Installs use the npm cache (`--prefer-offline`), so a second run takes seconds.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { docExamples, withPorts } from './fixtures/doc-examples.ts';
import { freePortRange } from './fixtures/port-range.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const { FORCE_COLOR: _f, NO_COLOR: _n, ...ENV } = process.env;

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000) {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout: timeoutMs });
  return { ...r, all: `$ ${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}` };
}

const work = mkdtempSync(join(tmpdir(), 'actor-raft-pack-'));
const app = join(work, 'app');
let installed = false;

test.after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack builds a tarball with compiled JavaScript, declarations and source maps, and no test files', () => {
  const r = run(NPM, ['pack', '--json', '--pack-destination', work], ROOT, 180_000);
  assert.is(r.status, 0, r.all);
  const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const files = new Set(info!.files.map((f) => f.path));
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/sim/index.js', 'dist/sim/index.d.ts', 'dist/internals.js', 'dist/internals.d.ts', 'dist/cli/main.js', 'bin/actor-raft.mjs', 'package.json', 'README.md']) {
    assert.ok(files.has(f), `the tarball lacks ${f}`);
  }
  assert.not.ok([...files].some((f) => f.startsWith('test/')), 'tests are not published');
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  for (const dev of ['tsx', 'typescript']) assert.not.ok(dev in manifest.dependencies, `${dev} is a runtime dependency`);

  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  const install = run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, info!.filename), 'typescript@5', '@statelyai/inspect', '@types/node@20'], app, 300_000);
  assert.is(install.status, 0, install.all);
  installed = true;
});

test('(a) plain node runs the README program against the package, and the bin answers --version', async () => {
  assert.ok(installed, 'the install step failed');
  const readme = docExamples(new URL('../', import.meta.url)).runnable.find((e) => e.where.startsWith('README.md'))!;
  writeFileSync(join(app, 'counter.mjs'), withPorts(readme.code, (await freePortRange(3)) - 1));
  const r = run(process.execPath, ['counter.mjs'], app, 60_000);
  assert.is(r.status, 0, r.all);
  assert.match(r.stdout, /^committed at index \d+; the counter is 5$/m);
  assert.match(r.stdout, /^node 3 reads 5$/m);
  const v = run(join(app, 'node_modules', '.bin', 'actor-raft'), ['--version'], app);
  assert.is(v.stdout.trim(), `actor-raft ${PKG.version}`, v.all);
});

test('(b) plain node runs a seeded simulation from actor-raft/sim', () => {
  assert.ok(installed, 'the install step failed');
  writeFileSync(
    join(app, 'sim.mjs'),
    `import { Simulation } from 'actor-raft/sim';
const sim = new Simulation({ seed: 7, nodes: 3 });
sim.runUntil((s) => s.leader() !== undefined, 200);
const out = sim.propose(sim.leader(), new TextEncoder().encode('set x 1'));
sim.runFor(50);
console.log(JSON.stringify({ kind: out.kind, applied: [1, 2, 3].map((id) => sim.applied(id).length) }));
`,
  );
  const r = run(process.execPath, ['sim.mjs'], app, 60_000);
  assert.is(r.status, 0, r.all);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { kind: string; applied: number[] };
  assert.is(result.kind, 'appended');
  for (const n of result.applied) assert.ok(n >= 1, `every node applied the proposal: ${r.stdout}`);
});

test('(d) plain node finds the actors and machines under actor-raft/internals, and not in actor-raft', () => {
  assert.ok(installed, 'the install step failed');
  writeFileSync(
    join(app, 'internals.mjs'),
    `import * as api from 'actor-raft';
import * as internals from 'actor-raft/internals';
const names = ['NodeActor', 'StorageActor', 'TransportActor', 'roleMachine', 'replicatorMachine', 'circuitBreakerMachine'];
console.log(JSON.stringify({ inApi: names.filter((n) => n in api), inInternals: names.filter((n) => typeof internals[n] === 'function' || typeof internals[n]?.transition === 'function') }));
`,
  );
  const r = run(process.execPath, ['internals.mjs'], app, 60_000);
  assert.is(r.status, 0, r.all);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { inApi: string[]; inInternals: string[] };
  assert.equal(got.inApi, []);
  assert.equal(got.inInternals, ['NodeActor', 'StorageActor', 'TransportActor', 'roleMachine', 'replicatorMachine', 'circuitBreakerMachine']);
});

test('(c) a strict TypeScript 5 consumer type-checks against the shipped types', () => {
  assert.ok(installed, 'the install step failed');
  const api = docExamples(new URL('../', import.meta.url)).runnable.find((e) => e.where.startsWith('docs/api.md'))!;
  writeFileSync(join(app, 'api-example.ts'), api.code);
  writeFileSync(
    join(app, 'options.ts'),
    `import { createWebSocketInspector } from '@statelyai/inspect';
import { type NodeOptions, type StateMachine, createNode, NotLeaderError } from 'actor-raft';
import { newCircuitBreaker, CircuitState, NodeActor } from 'actor-raft/internals';
import { Simulation, type SimulationOptions } from 'actor-raft/sim';

const sm: StateMachine<number> = { apply: (d) => d.length, snapshot: () => new Uint8Array(), restore: () => {} };
const inspector = createWebSocketInspector({ url: 'ws://127.0.0.1:8080', autoStart: false });
const options: NodeOptions = { secret: process.env.RAFT_SECRET, inspect: inspector.inspect, logger: console };
const node = createNode({ nodeId: 1, peers: [{ id: 1, address: '127.0.0.1:7001' }] }, sm, options);
const leader: Promise<number> = node.waitForLeader({ signal: AbortSignal.timeout(1000) });
const started: Promise<void> = node.start({ waitForLeader: true });
const closed: boolean = newCircuitBreaker().state() === CircuitState.Closed;
const simOptions: SimulationOptions = { seed: 1, nodes: 3 };
const sim = new Simulation(simOptions);
const actor: typeof NodeActor | undefined = undefined;
export { leader, started, closed, sim, NotLeaderError, actor };
`,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true },
      files: ['api-example.ts', 'options.ts'],
    }),
  );
  const version = run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '--version'], app);
  assert.match(version.stdout, /^Version 5\./, version.all);
  const r = run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app, 180_000);
  const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
  // xstate's own declarations do not pass exactOptionalPropertyTypes with skipLibCheck off; that is
  // theirs to fix and no error of ours. Everything else must be clean.
  const ours = errors.filter((l) => !l.startsWith('node_modules/xstate/'));
  assert.equal(ours, [], r.all);
  assert.ok(readdirSync(join(app, 'node_modules', 'actor-raft', 'dist')).includes('index.d.ts'));
});

test.run();
