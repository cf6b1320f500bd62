/**
 * The import graph of the TypeScript sources, read straight from the text: every `import … from`,
 * `export … from`, side-effect `import '…'` and dynamic `import('…')`, with the names it binds and
 * whether it is type-only. The layer test (test/layers.test.ts) checks its rules against this graph.
 *
 * Why a reader of its own rather than a dependency: the rules need the *names* a file imports (the
 * wiring alone may name a concrete io class, even from a module that also declares an interface),
 * which a module-level graph cannot express; and the syntax of a module specifier is small enough
 * to read exactly once comments are blanked out.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';

/** One name an import binds: `imported` as the exporting module calls it. */
export interface ImportedName {
  readonly imported: string;
  readonly typeOnly: boolean;
}

export interface ImportEdge {
  /** The importing file, relative to the root, with forward slashes (`src/raft/raft-log.ts`). */
  readonly from: string;
  /** The specifier as written (`../io/memory-storage.ts`, `xstate`, `node:fs`). */
  readonly specifier: string;
  /** A project file (relative to the root) for a relative specifier; undefined for a package. */
  readonly file: string | undefined;
  /** The package for a bare specifier (`xstate`, `@scope/name`, `node:fs`); undefined for a file. */
  readonly pkg: string | undefined;
  /** The names bound; `*` for a namespace import or `export *`; empty for a side-effect import. */
  readonly names: readonly ImportedName[];
  /** The whole statement binds types only (`import type …`, `export type … from`). */
  readonly typeOnly: boolean;
  /** 1-based line of the statement, for the failure message. */
  readonly line: number;
}

/**
 * The source with every comment and the text of every template literal replaced by spaces
 * (newlines kept, so line numbers hold). Quoted strings stay, since module specifiers are quoted
 * strings; a `//` inside one is not a comment, and code quoted in a template is not an import.
 */
export function blankComments(src: string): string {
  const out = src.split('');
  let i = 0;
  const templateDepth: number[] = []; // brace depth at which each open template's `${` began
  let braces = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') out[i++] = ' ';
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (; i < stop; i++) if (src[i] !== '\n') out[i] = ' ';
    } else if (c === "'" || c === '"') {
      i++;
      while (i < src.length && src[i] !== c && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '`' || (c === '}' && templateDepth.length > 0 && templateDepth[templateDepth.length - 1] === braces)) {
      if (c === '}') templateDepth.pop();
      i++;
      while (i < src.length && src[i] !== '`') {
        if (src[i] === '$' && src[i + 1] === '{') {
          templateDepth.push(braces);
          i += 2;
          break;
        }
        const step = src[i] === '\\' ? 2 : 1;
        for (let k = 0; k < step && i < src.length; k++, i++) if (src[i] !== '\n') out[i] = ' ';
      }
      if (src[i] === '`') i++;
    } else {
      if (c === '{') braces++;
      else if (c === '}') braces--;
      i++;
    }
  }
  return out.join('');
}

function parseNames(clause: string, statementTypeOnly: boolean): ImportedName[] {
  const names: ImportedName[] = [];
  let rest = clause.trim();
  const brace = rest.indexOf('{');
  if (brace >= 0) {
    const inner = rest.slice(brace + 1, rest.lastIndexOf('}'));
    for (const part of inner.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const typeOnly = statementTypeOnly || /^type\s/.test(p);
      const imported = p.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim();
      names.push({ imported, typeOnly });
    }
    rest = rest.slice(0, brace);
  }
  for (const part of rest.split(',')) {
    const p = part.trim();
    if (!p) continue;
    if (p.startsWith('*')) names.push({ imported: '*', typeOnly: statementTypeOnly });
    else names.push({ imported: 'default', typeOnly: statementTypeOnly });
  }
  return names;
}

/** A clause of names: identifiers, braces, commas, `*`; never running into the next declaration. */
const CLAUSE = String.raw`((?:(?!\b(?:import|export|class|enum|interface|function|const|let|var|declare)\b)[\w\s{},*$])*?)`;
const STATIC = new RegExp(String.raw`(^|[;\n}])\s*(import|export)\s+(type\s+)?${CLAUSE}\s*from\s*(['"])([^'"\n]+)\5`, 'g');
const SIDE_EFFECT = /(^|[;\n}])\s*import\s*(['"])([^'"\n]+)\2/g;
const DYNAMIC = /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;

function lineAt(src: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (src.charCodeAt(i) === 10) line++;
  return line;
}

function resolveTarget(from: string, specifier: string): { file: string | undefined; pkg: string | undefined } {
  if (specifier.startsWith('.')) return { file: posix.normalize(posix.join(posix.dirname(from), specifier)), pkg: undefined };
  if (specifier.startsWith('node:')) return { file: undefined, pkg: specifier };
  const parts = specifier.split('/');
  return { file: undefined, pkg: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] };
}

/** The import edges of one file's source; `from` is its path relative to the root. */
export function importsOf(from: string, source: string): ImportEdge[] {
  const src = blankComments(source);
  const edges: ImportEdge[] = [];
  for (const m of src.matchAll(STATIC)) {
    const start = m.index! + m[1]!.length;
    const typeOnly = m[3] !== undefined;
    const clause = m[4]!;
    if (m[2] === 'import' && clause === '') continue; // not an import clause
    edges.push({ from, specifier: m[6]!, ...resolveTarget(from, m[6]!), names: parseNames(clause, typeOnly), typeOnly, line: lineAt(src, start + src.slice(start).search(/\S/)) });
  }
  for (const m of src.matchAll(SIDE_EFFECT)) {
    const start = m.index! + m[1]!.length;
    edges.push({ from, specifier: m[3]!, ...resolveTarget(from, m[3]!), names: [], typeOnly: false, line: lineAt(src, start + src.slice(start).search(/\S/)) });
  }
  for (const m of src.matchAll(DYNAMIC)) {
    edges.push({ from, specifier: m[2]!, ...resolveTarget(from, m[2]!), names: [{ imported: '*', typeOnly: false }], typeOnly: false, line: lineAt(src, m.index!) });
  }
  return edges.sort((a, b) => a.line - b.line);
}

/** Every `.ts` file under `dir` (relative to `root`), sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(join(root, dir));
  return out;
}

/** The import graph of every `.ts` file under `dir`. */
export function importGraph(root: string, dir = 'src'): ImportEdge[] {
  return sourceFiles(root, dir).flatMap((f) => importsOf(f, readFileSync(join(root, f), 'utf8')));
}

/** The source of a project file, with comments blanked (for rules that look at declarations). */
export function readBlanked(root: string, file: string): string {
  return blankComments(readFileSync(join(root, file), 'utf8'));
}

