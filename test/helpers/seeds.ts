/**
 * Seeds and counts for randomized tests. Every randomized test runs a fixed default seed, so a
 * plain `npm test` is reproducible; its environment variable picks another seed (`random` draws
 * one and the test prints it). A failure names the exact command that replays it.
 */

/** Thrown for a bad value in a test's environment variable: a typo must not run nothing and pass. */
export class BadTestSettingError extends Error {
  constructor(name: string, value: string, expected: string) {
    super(`${name}=${JSON.stringify(value)}: expected ${expected}`);
    this.name = 'BadTestSettingError';
  }
}

/** The seed from `name`: its default when unset, a fresh random one for `random`. */
export function seedFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'random') {
    const seed = 1 + Math.floor(Math.random() * 2 ** 31);
    console.log(`    ${name}=random chose ${name}=${seed}`);
    return seed;
  }
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new BadTestSettingError(name, raw, 'a non-negative integer or "random"');
  return seed;
}

/** A positive count from `name` (at least 1: a run of zero seeds proves nothing). */
export function countFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new BadTestSettingError(name, raw, 'a positive integer');
  return n;
}

/** Wraps a test body so that any failure ends with the command that replays it. */
export function withReplay<T>(command: string, body: () => Promise<T> | T): () => Promise<T> {
  return async () => {
    try {
      return await body();
    } catch (err) {
      if (err instanceof Error) err.message += `\n    replay: ${command}`;
      throw err;
    }
  };
}
