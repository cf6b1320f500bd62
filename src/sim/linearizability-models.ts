/**
 * Sequential models for the linearizability checker: a single register and a key-value store
 * (put / get / compare-and-swap / delete, partitioned by key). Users with other state machines
 * write their own `Model` the same way.
 */
import type { Model } from './linearizability.ts';

// ----- a single register -----

export type RegisterInput = { readonly op: 'write'; readonly value: string } | { readonly op: 'read' } | { readonly op: 'cas'; readonly from: string | null; readonly to: string };

/** A read returns the value (null: never written); a CAS returns whether it swapped; a write returns nothing. */
export type RegisterOutput = { readonly value: string | null } | { readonly ok: boolean } | Record<string, never>;

/** One register holding a string, null before the first write. */
export const registerModel: Model<string | null, RegisterInput, RegisterOutput> = {
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case 'write':
        return { ok: true, state: input.value };
      case 'read':
        return { ok: output === undefined || (output as { value: string | null }).value === state, state };
      case 'cas': {
        const swapped = state === input.from;
        const ok = output === undefined || (output as { ok: boolean }).ok === swapped;
        return { ok, state: swapped ? input.to : state };
      }
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => (s === null ? '\u0000' : s),
  describe(input, output, unknown) {
    const out = unknown ? '? (unknown outcome)' : JSON.stringify(output);
    switch (input.op) {
      case 'write':
        return `write ${JSON.stringify(input.value)}${unknown ? ' -> ? (unknown outcome)' : ''}`;
      case 'read':
        return `read -> ${unknown ? '?' : JSON.stringify((output as { value: string | null }).value)}`;
      case 'cas':
        return `cas ${JSON.stringify(input.from)} -> ${JSON.stringify(input.to)}: ${unknown ? out : (output as { ok: boolean }).ok ? 'swapped' : 'compare failed'}`;
    }
  },
};

// ----- a key-value store -----

/**
 * Operations of a key-value store. `cas` with `prev: null` creates the key only when it is absent;
 * `delete` with `prev` removes it only when the value matches.
 */
export type KvInput =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly prev: string | null; readonly value: string }
  | { readonly op: 'delete'; readonly key: string; readonly prev?: string };

/**
 * `get`: the value (null: absent). `cas` and `delete`: whether the condition held (`ok`); `delete`
 * of an absent key is `ok: false` too when unconditional. `put`: nothing.
 */
export type KvOutput = { readonly value: string | null } | { readonly ok: boolean } | Record<string, never>;

/** State of the key-value model: the map, never mutated (each step makes a new one). */
export type KvState = ReadonlyMap<string, string>;

function withValue(state: KvState, key: string, value: string | null): KvState {
  const next = new Map(state);
  if (value === null) next.delete(key);
  else next.set(key, value);
  return next;
}

/** A map of string keys to string values, checked one key at a time. */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => new Map(),
  step(state, input, output) {
    const current = state.get(input.key) ?? null;
    switch (input.op) {
      case 'put':
        return { ok: true, state: withValue(state, input.key, input.value) };
      case 'get':
        return { ok: output === undefined || (output as { value: string | null }).value === current, state };
      case 'cas': {
        const swapped = current === input.prev;
        const ok = output === undefined || (output as { ok: boolean }).ok === swapped;
        return { ok, state: swapped ? withValue(state, input.key, input.value) : state };
      }
      case 'delete': {
        const removed = current !== null && (input.prev === undefined || current === input.prev);
        const ok = output === undefined || (output as { ok: boolean }).ok === removed;
        return { ok, state: removed ? withValue(state, input.key, null) : state };
      }
    }
  },
  equal(a, b) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (b.get(k) !== v) return false;
    return true;
  },
  hash(s) {
    return JSON.stringify([...s.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)));
  },
  partition: (input) => input.key,
  describe(input, output, unknown) {
    const result = (text: string) => (unknown ? '? (unknown outcome)' : text);
    switch (input.op) {
      case 'put':
        return `put ${input.key}=${JSON.stringify(input.value)}${unknown ? ' -> ? (unknown outcome)' : ''}`;
      case 'get':
        return `get ${input.key} -> ${result(JSON.stringify((output as { value: string | null } | undefined)?.value))}`;
      case 'cas':
        return `cas ${input.key} ${JSON.stringify(input.prev)} -> ${JSON.stringify(input.value)}: ${result((output as { ok: boolean } | undefined)?.ok ? 'swapped' : 'compare failed')}`;
      case 'delete':
        return `delete ${input.key}${input.prev !== undefined ? ` if ${JSON.stringify(input.prev)}` : ''}: ${result((output as { ok: boolean } | undefined)?.ok ? 'deleted' : 'not deleted')}`;
    }
  },
};
