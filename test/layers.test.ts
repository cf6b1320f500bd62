/**
 * The layers of docs/architecture.md, enforced: imports run one way. Each rule below names the
 * files it governs and what they may import; a failure lists every offending `file:line → import`
 * with the rule it breaks.
 *
 * Why it matters: the pure core (src/raft, src/machines) is what the simulation replays seed by
 * seed; one import of the edge from the core and a seed no longer says what production does. The
 * wiring alone picks concrete storage and transport, so the simulation can swap them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ImportEdge, blankComments, importGraph, importsOf, sourceFiles } from './helpers/import-graph.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The files that wire concrete io implementations together: createNode, the CLI, the simulation kit. */
// raft-node.ts with the two files split from it that name the TCP transport and the metrics: its option types and its status.
const WIRING = (f: string): boolean => ['src/actors/raft-node.ts', 'src/actors/node-options.ts', 'src/actors/node-status.ts'].includes(f) || f.startsWith('src/cli/') || f.startsWith('src/sim/');
/** The files that only re-export: the public API and the internals export path. */
const EXPORT_SURFACES = new Set(['src/index.ts', 'src/internals.ts']);
/**
 * io's interfaces: the contracts the actors program against and the pure helpers both sides of a
 * contract share. `disk-full.ts` says how any Storage's full-disk failure is recognised; it does
 * no I/O.
 */
const IO_CONTRACT = new Set(['src/io/storage.ts', 'src/io/transport.ts', 'src/io/clock.ts', 'src/io/disk-full.ts']);
/** Project files every layer above the core may use: errors, configuration, the StateMachine contract. */
const SHARED = new Set(['src/errors.ts', 'src/config.ts', 'src/state-machine.ts']);

const under = (dir: string) => (f: string | undefined): boolean => f !== undefined && f.startsWith(`src/${dir}/`);
const isFile = (e: ImportEdge): boolean => e.file !== undefined;

/** The names of concrete io implementations: io classes, and values typed as one of io's interfaces. */
function concreteIoNames(): Map<string, Set<string>> {
  const contractTypes = new Set<string>();
  for (const f of IO_CONTRACT) for (const m of blankComments(readFileSync(join(ROOT, f), 'utf8')).matchAll(/export\s+interface\s+(\w+)/g)) contractTypes.add(m[1]!);
  const byFile = new Map<string, Set<string>>();
  for (const f of sourceFiles(ROOT, 'src/io')) {
    const src = blankComments(readFileSync(join(ROOT, f), 'utf8'));
    const names = new Set<string>();
    for (const m of src.matchAll(/export\s+(?:abstract\s+)?class\s+(\w+)/g)) names.add(m[1]!);
    for (const m of src.matchAll(/export\s+const\s+(\w+)\s*:\s*(\w+)/g)) if (contractTypes.has(m[2]!)) names.add(m[1]!);
    byFile.set(f, names);
  }
  return byFile;
}

interface Rule {
  readonly name: string;
  readonly governs: (file: string) => boolean;
  /** Undefined when the import is allowed; otherwise what is wrong with it. */
  readonly check: (e: ImportEdge) => string | undefined;
}

const concrete = concreteIoNames();

const RULES: readonly Rule[] = [
  {
    name: 'raft/ imports only raft/ (and msgpackr, for the codec of its records)',
    governs: under('raft'),
    check: (e) => (isFile(e) ? (under('raft')(e.file) ? undefined : 'outside raft/') : e.pkg === 'msgpackr' ? undefined : `package ${e.pkg}`),
  },
  {
    name: 'machines/ imports only raft/, machines/ and xstate',
    governs: under('machines'),
    check: (e) => (isFile(e) ? (under('raft')(e.file) || under('machines')(e.file) ? undefined : 'outside raft/ and machines/') : e.pkg === 'xstate' ? undefined : `package ${e.pkg}`),
  },
  {
    name: "actors/ imports only actors/, machines/, raft/, io's interfaces and the shared errors/config/state-machine",
    governs: (f) => under('actors')(f) && !WIRING(f),
    check: (e) => {
      if (!isFile(e)) return undefined;
      const f = e.file!;
      if (under('actors')(f) || under('machines')(f) || under('raft')(f) || SHARED.has(f) || IO_CONTRACT.has(f)) return undefined;
      return under('io')(f) ? 'an io module that is not an interface' : 'outside its layer';
    },
  },
  {
    name: 'io/ never imports machines/, actors/, sim/, cli/ or kv/',
    governs: under('io'),
    check: (e) => (['machines', 'actors', 'sim', 'cli', 'kv'].some((d) => under(d)(e.file)) ? 'a layer above the edge' : undefined),
  },
  {
    name: 'only the wiring (createNode in actors/raft-node.ts, cli/, sim/) names concrete io implementations',
    governs: (f) => !['io', 'raft', 'machines'].some((d) => under(d)(f)) && !WIRING(f) && !EXPORT_SURFACES.has(f), // raft/ and machines/ have stricter rules
    check: (e) => {
      if (!under('io')(e.file)) return undefined;
      if (!IO_CONTRACT.has(e.file!)) return 'an io implementation module';
      const named = e.names.filter((n) => n.imported === '*' || concrete.get(e.file!)?.has(n.imported)).map((n) => n.imported);
      return named.length > 0 ? `names ${named.join(', ')}` : undefined;
    },
  },
  {
    name: 'errors, config and the StateMachine contract import only each other and raft/',
    governs: (f) => SHARED.has(f),
    check: (e) => (isFile(e) && !SHARED.has(e.file!) && !under('raft')(e.file) ? 'outside the shared files and raft/' : undefined),
  },
  {
    name: 'src/index.ts exports the public API only: no actor but createNode, no machine (those are in src/internals.ts)',
    governs: (f) => f === 'src/index.ts',
    check: (e) => (under('machines')(e.file) || (under('actors')(e.file) && e.file !== 'src/actors/raft-node.ts' && e.file !== 'src/actors/pending-requests.ts') ? 'an internal module' : undefined),
  },
];

/** Every rule broken by `edges`, one line each: `file:line → specifier  breaks "rule" (why)`. */
function violations(edges: readonly ImportEdge[], rules: readonly Rule[] = RULES): string[] {
  const out: string[] = [];
  for (const e of edges) {
    for (const r of rules) {
      if (!r.governs(e.from)) continue;
      const why = r.check(e);
      if (why !== undefined) out.push(`${e.from}:${e.line} → ${e.specifier}  breaks "${r.name}" (${why})`);
    }
  }
  return out;
}

test('the import graph keeps every layer rule', () => {
  const found = violations(importGraph(ROOT, 'src'));
  assert.ok(found.length === 0, `${found.length} import(s) break the layer rules of docs/architecture.md:\n  ${found.join('\n  ')}\n`);
});

test('the reader of imports finds every form a rule must see', () => {
  const cases: { src: string; want: string[] }[] = [
    { src: "import { a, type B } from '../io/x.ts';", want: ['src/io/x.ts a,type B'] },
    { src: "import type { C } from '../config.ts';", want: ['src/config.ts type C'] },
    { src: "import {\n  a,\n  b as c,\n} from './y.ts';", want: ['src/raft/y.ts a,b'] },
    { src: "export * from '../io/z.ts';\nexport { q } from './q.ts';", want: ['src/io/z.ts *', 'src/raft/q.ts q'] },
    { src: "import D, * as ns from 'xstate';", want: ['xstate default,*'] },
    { src: "const m = await import('../actors/a.ts');", want: ['src/actors/a.ts *'] },
    { src: "import '../io/side.ts';", want: ['src/io/side.ts '] },
    { src: "// import { no } from '../io/x.ts';\n/* import { no } from '../io/y.ts' */\nconst s = `import { no } from '../io/t.ts'`;", want: [] },
    { src: "const url = 'http://x'; import { yes } from '../io/w.ts';", want: ['src/io/w.ts yes'] },
    { src: "export enum E { A, B }\nimport { late } from './late.ts';", want: ['src/raft/late.ts late'] },
  ];
  for (const c of cases) {
    const got = importsOf('src/raft/f.ts', c.src).map((e) => `${e.file ?? e.pkg} ${e.names.map((n) => (n.typeOnly ? `type ${n.imported}` : n.imported)).join(',')}`);
    assert.equal(got, c.want, c.src);
  }
});

test('each rule refuses the import it exists to refuse, and lets the allowed one through', () => {
  const cases: { from: string; src: string; broken: string | undefined }[] = [
    { from: 'src/raft/raft-log.ts', src: "import { MemoryStorage } from '../io/memory-storage.ts';", broken: 'raft/ imports only raft/' },
    { from: 'src/raft/raft-state.ts', src: "import type { Config } from '../config.ts';", broken: 'raft/ imports only raft/' },
    { from: 'src/raft/raft-state.ts', src: "import { Subject } from 'rxjs';", broken: 'raft/ imports only raft/' },
    { from: 'src/raft/raft-state.ts', src: "import { RaftLog } from './raft-log.ts';", broken: undefined },
    { from: 'src/machines/role.machine.ts', src: "import { Subject } from 'rxjs';", broken: 'machines/ imports only' },
    { from: 'src/machines/role.machine.ts', src: "import { setup } from 'xstate';\nimport type { RaftState } from '../raft/raft-state.ts';", broken: undefined },
    { from: 'src/actors/node-actor.ts', src: "import { MemoryStorage } from '../io/memory-storage.ts';", broken: 'actors/ imports only' },
    { from: 'src/actors/node-actor.ts', src: "import { systemClock } from '../io/clock.ts';", broken: 'only the wiring' },
    { from: 'src/actors/storage-actor.ts', src: "import type { Storage } from '../io/storage.ts';\nimport type { Clock } from '../io/clock.ts';", broken: undefined },
    { from: 'src/actors/raft-node.ts', src: "import { DiskStorage } from '../io/disk-storage.ts';", broken: undefined },
    { from: 'src/io/circuit-breaker.ts', src: "import { circuitBreakerMachine } from '../machines/circuit-breaker.machine.ts';", broken: 'io/ never imports' },
    { from: 'src/kv/kv-http-server.ts', src: "import { BidirectionalTransport } from '../io/tcp-transport.ts';", broken: 'only the wiring' },
    { from: 'src/config.ts', src: "import { RaftNode } from './actors/raft-node.ts';", broken: 'errors, config' },
    { from: 'src/index.ts', src: "export { roleMachine } from './machines/role.machine.ts';", broken: 'src/index.ts exports the public API only' },
    { from: 'src/index.ts', src: "export { NodeActor } from './actors/node-actor.ts';", broken: 'src/index.ts exports the public API only' },
    { from: 'src/internals.ts', src: "export { NodeActor } from './actors/node-actor.ts';", broken: undefined },
  ];
  for (const c of cases) {
    const found = violations(importsOf(c.from, c.src));
    if (c.broken === undefined) assert.equal(found, [], `${c.from}: ${c.src}`);
    else assert.ok(found.some((v) => v.includes(c.broken!)), `${c.from}: ${c.src} should break "${c.broken}", got ${JSON.stringify(found)}`);
  }
});

test('src/index.ts only re-exports: no statement but `export … from`', () => {
  const statements = blankComments(readFileSync(join(ROOT, 'src/index.ts'), 'utf8'))
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const logic = statements.filter((s) => !/^export\s[\s\S]*\sfrom\s*['"][^'"]+['"]$/.test(s));
  assert.equal(logic, [], 'src/index.ts holds something other than re-exports');
});

test('the actors and machines are exported from src/internals.ts and not from src/index.ts', async () => {
  const api = Object.keys(await import('../src/index.ts'));
  const internals = Object.keys(await import('../src/internals.ts'));
  for (const name of ['NodeActor', 'StorageActor', 'TransportActor', 'roleMachine', 'replicatorMachine', 'circuitBreakerMachine', 'RaftState', 'MemoryLog']) {
    assert.not.ok(api.includes(name), `src/index.ts exports the internal ${name}`);
    assert.ok(internals.includes(name), `src/internals.ts lacks ${name}`);
  }
  for (const name of ['createNode', 'RaftNode', 'DiskStorage', 'MemoryStorage', 'NotLeaderError', 'CompactedError', 'formatPrometheus']) assert.ok(api.includes(name), `src/index.ts lacks the public ${name}`);
});

test.run();
