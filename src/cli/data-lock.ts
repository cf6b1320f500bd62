/**
 * The lock of a local cluster's data root: one `actor-raft cluster` per directory. A second runner
 * on the same data would otherwise report the first one's leader as its own and start members that
 * fight the running ones for their data dirs; with the lock it refuses before it touches anything.
 *
 * The lock is a file created exclusively (O_EXCL) holding the runner's PID. A runner that died
 * without removing it (SIGKILL, power loss) leaves a PID that no longer runs: the next runner takes
 * the lock over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'cluster.lock';

/** Another live process holds the lock. */
export class DataRootLockedError extends Error {
  override readonly name = 'DataRootLockedError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`${dataDir} is in use by another "actor-raft cluster" (pid ${pid}); stop that one first (Ctrl-C in its terminal), or give this one its own --data, --base-port and --http-base-port`);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

/** Takes the lock of `dataDir` (which must exist) or throws DataRootLockedError. Returns the release. */
export function lockDataRoot(dataDir: string, shownAs: string = dataDir): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    let pid = 0;
    try {
      pid = Number(readFileSync(file, 'utf8').trim());
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) throw new DataRootLockedError(shownAs, pid);
    rmSync(file, { force: true }); // stale: its runner is gone
  }
}
