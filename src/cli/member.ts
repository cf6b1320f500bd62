/**
 * `actor-raft member list|add|remove|promote|transfer`: an operator's client of the admin routes
 * (`/members`) of a running cluster's HTTP API.
 *
 * It retries only answers that prove nothing was changed (`retryable: true`: no leader yet, a
 * membership change in progress, a learner still catching up), follows a 421 to the leader, and
 * moves to the next `--endpoint` when a member cannot be reached. An answer whose outcome is
 * unknown (504) is reported as such and never retried: the operator checks `member list` first.
 */
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { MemberCommand } from './args.ts';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

interface Member {
  id: number;
  address: string | null;
  role: string;
  leader: boolean;
  match?: number;
}

/** Connection errors that prove the request never reached the member. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

class NotConnected extends Error {}

function send(url: string, method: string, body: string | undefined, timeoutMs: number): Promise<Answer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { accept: 'application/json' };
  // Members that require a bearer token (--http-token) get the one in the environment.
  const token = process.env.ACTOR_RAFT_HTTP_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = request(target, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('error', reject);
      res.on('end', () => {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = { error: text.trim() || `HTTP ${res.statusCode}` };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.host} within ${timeoutMs} ms`)));
    req.on('error', (err: Error & { code?: string }) => reject(NOT_CONNECTED.has(err.code ?? '') ? new NotConnected(`${target.host}: ${err.message}`) : err));
    req.end(body);
  });
}

function request(cmd: MemberCommand): { method: string; path: string; body?: string } {
  switch (cmd.action) {
    case 'list':
      return { method: 'GET', path: `/members${cmd.stale ? '?stale=true' : ''}` };
    case 'add':
      return { method: 'POST', path: '/members', body: JSON.stringify({ id: cmd.id, address: cmd.address, learner: cmd.learner }) };
    case 'remove':
      return { method: 'DELETE', path: `/members/${cmd.id}` };
    case 'promote':
      return { method: 'POST', path: `/members/${cmd.id}/promote` };
    case 'transfer':
      return { method: 'POST', path: `/members/${cmd.id}/transfer-leadership` };
  }
}

/** The members as a table: id, role, Raft address, leader mark, replicated index (from the leader). */
export function formatMembers(members: readonly Member[]): string {
  const rows = [['ID', 'ROLE', 'RAFT ADDRESS', 'LEADER', 'MATCH']];
  for (const m of members) rows.push([String(m.id), m.role, m.address ?? '?', m.leader ? 'yes' : '', m.match === undefined ? '' : String(m.match)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function describe(cmd: MemberCommand, body: Record<string, unknown>): string {
  const at = `at index ${String(body.index)}, term ${String(body.term)}`;
  switch (cmd.action) {
    case 'add':
      return `added ${cmd.learner ? 'learner' : 'voter'} ${cmd.id} (${cmd.address}) ${at}; start it with "actor-raft node --join"\n`;
    case 'remove':
      return `removed member ${cmd.id} ${at}\n`;
    case 'promote':
      return `promoted learner ${cmd.id} to voter ${at}\n`;
    case 'transfer':
      return body.changed === false ? `node ${cmd.id} already leads (term ${String(body.term)}); nothing changed\n` : `leadership moved to node ${cmd.id} in term ${String(body.term)}\n`;
    case 'list':
      return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the command; resolves with the exit code (0 done, 1 refused or failed). */
export async function runMember(cmd: MemberCommand, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { method, path, body } = request(cmd);
  const deadline = Date.now() + cmd.timeoutMs;
  let endpoint = 0;
  let url = cmd.endpoints[0]! + path;
  let hops = 0;
  let unreachable = 0;
  for (;;) {
    let answer: Answer;
    try {
      answer = await send(url, method, body, 15_000);
    } catch (e) {
      if (e instanceof NotConnected) {
        // Nothing reached this member: try the next endpoint, and wait a little after a full round.
        endpoint = (endpoint + 1) % cmd.endpoints.length;
        url = cmd.endpoints[endpoint]! + path;
        if (++unreachable % cmd.endpoints.length === 0) {
          if (Date.now() >= deadline) {
            err(`actor-raft: no member answered (${(e as Error).message}); nothing was changed\n`);
            return 1;
          }
          await sleep(500);
        }
        continue;
      }
      const unknown = method === 'GET' ? '' : '; the change may or may not have been applied: check "actor-raft member list" before trying again';
      err(`actor-raft: ${(e as Error).message}${unknown}\n`);
      return 1;
    }
    const b = answer.body;
    if (answer.status >= 200 && answer.status < 300) {
      if (cmd.json) out(JSON.stringify(b) + '\n');
      else out(describe(cmd, b) + formatMembers((b.members as Member[]) ?? []));
      return 0;
    }
    const location = answer.headers.location;
    if (answer.status === 421 && typeof location === 'string' && hops < 3) {
      hops++;
      url = location;
      continue;
    }
    if (b.retryable === true && Date.now() < deadline) {
      const after = Number(answer.headers['retry-after'] ?? 1);
      await sleep(Math.min(Number.isFinite(after) && after > 0 ? after * 1000 : 1000, Math.max(0, deadline - Date.now())));
      hops = 0;
      url = cmd.endpoints[endpoint]! + path;
      continue;
    }
    if (cmd.json) out(JSON.stringify(b) + '\n');
    const outcome = answer.status === 504 ? ' (the change may or may not have been applied: check "actor-raft member list")' : b.retryable === true ? ' (nothing was changed)' : '';
    const cause = typeof b.cause === 'string' ? ` (cause: ${b.cause})` : '';
    err(`actor-raft: ${answer.status}: ${String(b.error ?? 'request failed')}${cause}${outcome}\n`);
    return 1;
  }
}
