/**
 * A failed seeded schedule (`runRandomSchedule`, `runMembershipSchedule`): whatever went wrong (a
 * safety violation, a liveness failure, any other exception), the message ends with the exact
 * command that replays the seed, e.g. `npm run sim -- --seed 1234`.
 */
export class ScheduleFailure extends Error {
  constructor(
    readonly seed: number,
    readonly replay: string,
    cause: unknown,
  ) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super(`seed ${seed}: ${what}\n    replay: ${replay}`, { cause });
    this.name = 'ScheduleFailure';
  }
}

/** The `npm run sim` command line that reruns one seed with the same options. */
export function replayCommand(seed: number, opts: { membership?: boolean; ticks?: number; nodes?: number; reportUnreachable?: boolean | undefined } = {}): string {
  const args = [opts.membership ? '--membership' : '', `--seed ${seed}`];
  if (opts.reportUnreachable === false) args.push('--no-unreachable');
  if (opts.ticks !== undefined && opts.ticks !== 2000) args.push(`--ticks ${opts.ticks}`);
  if (opts.nodes !== undefined) args.push(`--nodes ${opts.nodes}`);
  return `npm run sim -- ${args.filter(Boolean).join(' ')}`;
}
