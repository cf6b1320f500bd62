/**
 * The live dashboard as a user meets it, in headless Chromium (Debian's chromium driven by
 * playwright-core; `.ci/run` installs it): `actor-raft cluster` (what `npm start` runs) with three
 * member processes on loopback, its dashboard opened from the URL the runner prints. Exactly one
 * member is highlighted as leader in the statecharts; pressing "kill" on the leader's card kills
 * that process and another member is highlighted; a burst of writes goes in while it is down;
 * pressing "restart" brings it back and its card shows it caught up with the leader's commit;
 * "partition" on the new leader cuts it off (it steps down, CheckQuorum) and "heal" brings it back.
 * Screenshots of each step go to test-artifacts/dashboard/ (ignored by git).
 *
 * Bounds are generous (the machine is shared): these are deadlines for polling, not timings.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePortRange } from './fixtures/port-range.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/dashboard/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

/** What the page shows of each member, read from the DOM the user sees. */
interface CardState {
  readonly id: number;
  readonly up: boolean;
  readonly role: string;
  /** Members whose statechart highlights `leader`. */
  readonly leaderHighlighted: boolean;
  readonly applied: number;
  readonly commit: number;
  readonly badge: string;
}

/**
 * Reads the cards in the page. A string, not a function: tsx compiles functions with a helper
 * (`__name`) that does not exist in the browser.
 */
const READ_CARDS = `[...document.querySelectorAll('article.member')].map((el) => ({
  id: Number(el.dataset.member),
  up: el.dataset.up === 'true',
  role: el.dataset.role ?? '',
  leaderHighlighted: el.querySelector('svg .state.active[data-state="leader"]') !== null,
  applied: Number(el.querySelector('[data-f="applied"]')?.textContent ?? 'NaN'),
  commit: Number(el.querySelector('[data-f="commit"]')?.textContent ?? 'NaN'),
  badge: el.querySelector('.lag')?.textContent?.trim() ?? '',
}))`;

async function cards(page: Page): Promise<CardState[]> {
  return (await page.evaluate(READ_CARDS)) as CardState[];
}

/** Polls `check` until it returns a value; fails with `what` and the last cards after `ms`. */
async function until<T>(page: Page, what: string, ms: number, check: (c: CardState[]) => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  let last: CardState[] = [];
  for (;;) {
    last = await cards(page);
    const v = check(last);
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      await page.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
      throw new Error(`timed out waiting for ${what}; the page showed ${JSON.stringify(last)}`);
    }
    await page.waitForTimeout(200);
  }
}

/** The one member highlighted as leader, when exactly one is (among those shown up). */
function soleLeader(c: CardState[]): number | undefined {
  const leaders = c.filter((x) => x.up && x.leaderHighlighted);
  return leaders.length === 1 ? leaders[0]!.id : undefined;
}

test('dashboard in Chromium: one leader highlighted; kill it from the page, a new leader is highlighted; restart it, it catches up; partition and heal', async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'actor-raft-dashboard-'));
  const basePort = await freePortRange(3);
  const httpBasePort = await freePortRange(3, [basePort]);
  const { FORCE_COLOR: _f, NO_COLOR: _n, ...env } = process.env;
  const runner: ChildProcess = spawn(
    process.execPath,
    ['--import', TSX, MAIN, 'cluster', '--data', join(root, 'data'), '--base-port', String(basePort), '--http-base-port', String(httpBasePort), '--tick', '50'],
    { env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  runner.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  runner.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  let browser: Browser | undefined;
  try {
    // The URL the runner prints is the one a user opens.
    const deadline = Date.now() + 90_000;
    let url: string | undefined;
    while (!(url = /^dashboard: (http:\/\/\S+\/dashboard)/m.exec(out)?.[1]) || !/leader: node \d+/.test(out)) {
      if (Date.now() > deadline) throw new Error(`the runner printed no dashboard URL and no leader:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);

    const leader = await until(page, 'all three members up and exactly one highlighted as leader', 60_000, (c) =>
      c.length === 3 && c.every((x) => x.up) ? soleLeader(c) : undefined,
    );
    await page.screenshot({ path: join(ARTIFACTS, '1-one-leader.png'), fullPage: true });

    await page.click(`#member-${leader} button[data-action="kill"]`);
    const successor = await until(page, `member ${leader} shown down and another member highlighted as leader`, 60_000, (c) => {
      const old = c.find((x) => x.id === leader);
      const next = soleLeader(c);
      return old && !old.up && !old.leaderHighlighted && next !== undefined && next !== leader ? next : undefined;
    });
    await page.screenshot({ path: join(ARTIFACTS, '2-new-leader.png'), fullPage: true });

    // Writes the killed member misses: it has to catch up on them.
    await page.fill('#burst-count', '300');
    await page.click('#cluster-controls button[data-action="burst"]');
    await page.waitForFunction(`/300 of 300 writes committed/.test(document.querySelector('#message')?.textContent ?? '')`, undefined, { timeout: 60_000 });
    const commitAfterBurst = await until(page, 'the new leader showing the burst committed', 30_000, (c) => {
      const l = c.find((x) => x.id === successor);
      return l && l.commit >= 300 ? l.commit : undefined;
    });

    await page.click(`#member-${leader} button[data-action="restart"]`);
    const back = await until(page, `member ${leader} back up, following, and caught up`, 90_000, (c) => {
      const m = c.find((x) => x.id === leader);
      return m && m.up && m.role === 'follower' && m.applied >= commitAfterBurst && /caught up/.test(m.badge) ? m : undefined;
    });
    assert.ok(back.applied >= commitAfterBurst, `member ${leader} applied ${back.applied} of ${commitAfterBurst}`);
    assert.is(soleLeader(await cards(page)), successor, 'the restarted member does not take over: one leader, the same');
    await page.screenshot({ path: join(ARTIFACTS, '3-caught-up.png'), fullPage: true });

    // Partition the leader from the page: the others elect a new one, the cut-off leader steps down
    // (CheckQuorum); heal, and it follows again and catches up.
    await page.click(`#member-${successor} button[data-action="partition"]`);
    const third = await until(page, `member ${successor} cut off and stepping down, another member highlighted as leader`, 60_000, (c) => {
      const cut = c.find((x) => x.id === successor);
      const next = soleLeader(c);
      return cut && cut.up && cut.role !== 'leader' && next !== undefined && next !== successor ? next : undefined;
    });
    await page.screenshot({ path: join(ARTIFACTS, '4-partitioned.png'), fullPage: true });
    await page.click('#cluster-controls button[data-action="heal"]');
    await until(page, `member ${successor} healed: following member ${third} and caught up`, 60_000, (c) => {
      const m = c.find((x) => x.id === successor);
      return m && m.up && m.role === 'follower' && /caught up/.test(m.badge) && soleLeader(c) !== undefined ? m : undefined;
    });

    // The timeline names the elections with their cause.
    const timeline = (await page.evaluate(`[...document.querySelectorAll('#timeline li')].map((e) => e.textContent ?? '')`)) as string[];
    assert.ok(timeline.some((t) => new RegExp(`member ${successor}: candidate → leader.*majority voted`).test(t)), timeline.join('\n'));
    assert.ok(timeline.some((t) => new RegExp(`member ${successor}: leader → follower.*CheckQuorum`).test(t)), timeline.join('\n'));
    assert.equal(pageErrors, [], 'no script errors on the page');
  } finally {
    await browser?.close();
    if (runner.exitCode === null && runner.signalCode === null) {
      const exited = new Promise((r) => runner.once('exit', r));
      runner.kill('SIGINT');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
