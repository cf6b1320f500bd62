/**
 * Group commit as an RxJS operator: while one commit is on its way to disk, everything that
 * arrives is held and handed to the *next* commit as one batch. An idle stream commits at once, so
 * batching never adds latency; under load many items share one fsync. The storage actor
 * (./storage-actor.ts) runs every durable write of a node through it (Raft paper, Figure 2: state
 * is on stable storage before the node answers, so each Ready costs an fsync).
 */
import { Observable, type OperatorFunction, type Subscription } from 'rxjs';


/**
 * Calls `commit` with the first item at once, then, each time a commit completes, with everything
 * that arrived while it was running. Never more than one commit runs. Completes after the source
 * completes and the last commit finishes; errors as soon as a commit (or the source) errors.
 *
 * Hand-written because the stock operators do not fit: `bufferWhen` with a synchronous closing
 * notifier spins, `exhaustMap` drops what arrives during a commit, `bufferTime` adds latency.
 */
export function groupCommit<T, R>(commit: (batch: T[]) => Observable<R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let pending: T[] = [];
      let committing: Subscription | undefined;
      let sourceDone = false;

      const commitPending = (): void => {
        if (pending.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        const batch = pending;
        pending = [];
        let finished = false;
        const sub = commit(batch).subscribe({
          next: (value) => subscriber.next(value),
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            finished = true;
            committing = undefined;
            commitPending();
          },
        });
        // A commit that completed synchronously has already started the next one.
        if (!finished) committing = sub;
      };

      const sourceSub = source.subscribe({
        next: (item) => {
          pending.push(item);
          if (committing === undefined) commitPending();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (committing === undefined) commitPending();
        },
      });

      return () => {
        sourceSub.unsubscribe();
        committing?.unsubscribe();
      };
    });
}
