/**
 * The IPC channel between a member and the runner that started it (`actor-raft cluster`): the
 * member's dashboard asks the runner to kill, restart, partition or add members (things a member
 * cannot do to itself), and the runner tells the members the HTTP addresses of members it adds.
 *
 * Messages, both ways over Node's child-process IPC:
 *   runner → member  { type: 'runner', httpPeers: [[id, 'host:port'], ...] }   controls available; addresses
 *   member → runner  { type: 'control', seq, request }                           a RunnerRequest
 *   runner → member  { type: 'control-answer', seq, answer }                     its RunnerAnswer
 */
import type { RunnerAnswer, RunnerRequest } from '../dashboard/dashboard-routes.ts';

export type RunnerMessage =
  | { readonly type: 'runner'; readonly httpPeers: readonly (readonly [number, string])[] }
  | { readonly type: 'control-answer'; readonly seq: number; readonly answer: RunnerAnswer };

export interface ControlMessage {
  readonly type: 'control';
  readonly seq: number;
  readonly request: RunnerRequest;
}

/** How long a control may take in the runner (a restart waits for nothing; an add for a spawn). */
const CONTROL_TIMEOUT_MS = 15_000;

export class RunnerLink {
  /** Every member's HTTP address, as the runner last told (starts with --http-peers). */
  readonly httpPeers: Map<number, string>;
  private present = false;
  private seq = 0;
  private readonly pending = new Map<number, (a: RunnerAnswer) => void>();

  constructor(initial: ReadonlyMap<number, string>) {
    this.httpPeers = new Map(initial);
    if (!process.send) return;
    process.on('message', (msg: RunnerMessage) => {
      if (msg?.type === 'runner') {
        this.present = true;
        this.httpPeers.clear();
        for (const [id, address] of msg.httpPeers) this.httpPeers.set(id, address);
      } else if (msg?.type === 'control-answer') {
        this.pending.get(msg.seq)?.(msg.answer);
        this.pending.delete(msg.seq);
      }
    });
  }

  /** Whether a runner announced itself on the IPC channel. */
  get available(): boolean {
    return this.present && process.connected;
  }

  /** Asks the runner; resolves with its answer (never rejects: a lost runner is an answer too). */
  request(request: RunnerRequest): Promise<RunnerAnswer> {
    if (!this.available) return Promise.resolve({ ok: false, message: 'no runner: this member was not started by "actor-raft cluster"' });
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve({ ok: false, message: `the runner did not answer within ${CONTROL_TIMEOUT_MS / 1000} s` });
      }, CONTROL_TIMEOUT_MS);
      this.pending.set(seq, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      process.send!({ type: 'control', seq, request } satisfies ControlMessage);
    });
  }
}
