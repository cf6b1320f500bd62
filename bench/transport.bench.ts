/**
 * `npm run bench -- transport`: throughput and latency of BidirectionalTransport on loopback.
 *
 * - Throughput: node 1 streams MsgApp messages of 64 entries × 128 B to node 2, keeping a window
 *   of messages in flight so the socket never hits the backpressure drop; messages/s and MB/s of
 *   frames on the wire, median of several rounds.
 * - Latency: one round trip (MsgHeartbeat → MsgHeartbeatResp, answered from the handler) versus
 *   a raw TCP ping-pong of a few bytes on the same machine; medians over many round trips.
 *
 * Each is measured with plain frames (`frameCipher: 'none'`) and with every protected mode
 * (aes-256-gmac, the default, hmac-sha256, AES-256-GCM and ChaCha20-Poly1305), rounds interleaved so that load on a shared machine hits
 * every variant alike; the cost of sealing is reported against the plain run of the same rounds.
 *
 * Both ends run in this one process and share its event loop, like the raw baseline does.
 */
import * as net from 'node:net';
import type { FrameCipherName } from '../src/io/frame-cipher.ts';
import { BidirectionalTransport } from '../src/io/tcp-transport.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import type { Message } from '../src/raft/raftpb.ts';

const ROUNDS = 7;
const MESSAGES_PER_ROUND = 20_000;
const WINDOW = 256;
const BATCH = 16;
const ROUND_TRIPS = 2000;
/** `BENCH_FRAME_CIPHERS=none,aes-256-gmac` narrows the run (for a `node --cpu-prof` of one mode); 'none' always runs. */
const CIPHERS: readonly FrameCipherName[] = process.env.BENCH_FRAME_CIPHERS
  ? ['none', ...(process.env.BENCH_FRAME_CIPHERS.split(',') as FrameCipherName[]).filter((c) => c !== 'none')]
  : ['none', 'aes-256-gmac', 'hmac-sha256', 'aes-256-gcm', 'chacha20-poly1305'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function appendMessage(index: number): Message {
  const entries = Array.from({ length: 64 }, (_, i) => ({ term: 1, index: index + i + 1, type: EntryType.Normal, data: new Uint8Array(128).fill(i) }));
  return message({ type: MessageType.MsgApp, from: 1, to: 2, term: 1, logTerm: 1, index, commit: index, entries });
}

async function pair(
  frameCipher: FrameCipherName,
  onMessage: [(m: Message, self: BidirectionalTransport) => void, (m: Message, self: BidirectionalTransport) => void],
) {
  const ts: BidirectionalTransport[] = [];
  for (const id of [1, 2]) {
    const t: BidirectionalTransport = new BidirectionalTransport({
      nodeId: id,
      bindAddr: '127.0.0.1:0',
      clusterId: 'bench',
      secret: 'bench-secret-0123456789',
      frameCipher,
      handler: (m) => onMessage[id - 1]!(m, t),
    });
    await t.start();
    ts.push(t);
  }
  const [a, b] = ts as [BidirectionalTransport, BidirectionalTransport];
  a.addPeer(2, b.address());
  b.addPeer(1, a.address());
  // Settled: each side holds exactly one connection (when both dials complete, the tie-break
  // closes one; counting handshakes instead could wait forever for a count that was passed).
  const settled = () => [a.stats().peers[2]!, b.stats().peers[1]!].every((p) => p.connected && p.connections === 1);
  for (const deadline = Date.now() + 10_000; !settled(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`transports did not settle on one connection: ${JSON.stringify([a.stats().peers, b.stats().peers])}`);
  }
  return [a, b] as const;
}

/** Rounds of the throughput run for each cipher, interleaved. Returns msgs/s and MB/s per round. */
async function throughput(): Promise<void> {
  const setups = new Map<FrameCipherName, { a: BidirectionalTransport; b: BidirectionalTransport; counter: { received: number; wake?: () => void } }>();
  for (const cipher of CIPHERS) {
    const counter: { received: number; wake?: () => void } = { received: 0 };
    const [a, b] = await pair(cipher, [() => {}, () => {
      counter.received++;
      counter.wake?.();
    }]);
    setups.set(cipher, { a, b, counter });
  }
  const msgs = Array.from({ length: BATCH }, (_, i) => appendMessage(i * 64));
  const rates = new Map<FrameCipherName, number[]>(CIPHERS.map((c) => [c, []]));
  const mbs = new Map<FrameCipherName, number[]>(CIPHERS.map((c) => [c, []]));
  /** CPU µs per message (both ends run in this process): robust to other load on a shared machine. */
  const cpu = new Map<FrameCipherName, number[]>(CIPHERS.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // The order rotates every round and each measurement starts after a full collection, so no
    // mode always follows the same one and pays for its garbage.
    for (const cipher of CIPHERS.map((_, i) => CIPHERS[(i + round) % CIPHERS.length]!)) {
      const { a, counter } = setups.get(cipher)!;
      (globalThis as { gc?: () => void }).gc?.();
      counter.received = 0;
      const bytes0 = a.stats().bytesSent;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let sent = 0;
      while (sent < MESSAGES_PER_ROUND) {
        while (sent - counter.received < WINDOW && sent < MESSAGES_PER_ROUND) {
          a.sendBatch(2, msgs);
          sent += BATCH;
        }
        await new Promise<void>((r) => (counter.wake = r));
      }
      while (counter.received < sent) await new Promise<void>((r) => (counter.wake = r));
      const secs = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(cpu0);
      cpu.get(cipher)!.push((used.user + used.system) / sent);
      rates.get(cipher)!.push(sent / secs);
      mbs.get(cipher)!.push((a.stats().bytesSent - bytes0) / secs / 1e6);
    }
  }
  console.log(`throughput: 64 entries × 128 B per MsgApp, ${MESSAGES_PER_ROUND} messages × ${ROUNDS} rounds, batches of ${BATCH} (one sealed record per batch)`);
  // Costs are medians of per-round ratios: the rounds of each cipher run back to back, so a pair
  // shares the machine's load at that moment, which the medians of separate series do not.
  const paired = (series: Map<FrameCipherName, number[]>, cipher: FrameCipherName, cost: (plain: number, x: number) => number) =>
    median(series.get(cipher)!.map((x, i) => cost(series.get('none')![i]!, x)));
  for (const cipher of CIPHERS) {
    const r = median(rates.get(cipher)!);
    const rateCost = paired(rates, cipher, (p, x) => (p - x) / p) * 100;
    const cpuCost = paired(cpu, cipher, (p, x) => (x - p) / x) * 100;
    const cost = cipher === 'none'
      ? `   CPU ${median(cpu.get(cipher)!).toFixed(1)} µs/msg`
      : `   cost vs plain ${rateCost.toFixed(1)} % of msgs/s (paired rounds), ${cpuCost.toFixed(1)} % of CPU per msg`;
    console.log(
      `  ${cipher.padEnd(18)} median ${Math.round(r).toLocaleString('en-US').padStart(7)} msgs/s  ${median(mbs.get(cipher)!).toFixed(1)} MB/s${cost}   rounds: ${rates.get(cipher)!.map((x) => Math.round(x)).join(', ')}`,
    );
    const { a } = setups.get(cipher)!;
    const dropped = Object.values(a.stats().dropped).reduce((x, y) => x + y, 0);
    if (dropped > 0) console.log(`    dropped: ${JSON.stringify(a.stats().dropped)}`);
  }
  for (const { a, b } of setups.values()) await Promise.all([a.stop(), b.stop()]);
}

async function transportRoundTrip(cipher: FrameCipherName): Promise<number[]> {
  let done: (() => void) | undefined;
  const [a, b] = await pair(cipher, [
    () => done?.(),
    (m, self) => self.send(message({ type: MessageType.MsgHeartbeatResp, from: 2, to: 1, term: m.term })),
  ]);
  const samples: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((r) => {
      done = r;
      a.send(message({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1, commit: i }));
    });
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  await Promise.all([a.stop(), b.stop()]);
  return samples;
}

async function rawRoundTrip(): Promise<number[]> {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once('connect', r));
  let done: (() => void) | undefined;
  client.on('data', () => done?.());
  const ping = Buffer.from('ping....');
  const samples: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((r) => {
      done = r;
      client.write(ping);
    });
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return samples;
}

async function latency(): Promise<void> {
  const raw: number[] = [];
  const byCipher = new Map<FrameCipherName, number[]>(CIPHERS.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    raw.push(median(await rawRoundTrip()));
    for (const cipher of CIPHERS) byCipher.get(cipher)!.push(median(await transportRoundTrip(cipher)));
  }
  const r = median(raw);
  const plain = median(byCipher.get('none')!);
  console.log(`latency: one round trip, median of ${ROUNDS} rounds × ${ROUND_TRIPS} round trips (µs)`);
  console.log(`  raw TCP ping-pong          ${r.toFixed(1)} µs   rounds: ${raw.map((x) => x.toFixed(1)).join(', ')}`);
  for (const cipher of CIPHERS) {
    const t = median(byCipher.get(cipher)!);
    // Sealing's cost is the median of per-round differences: a round's modes run back to back.
    const pairedAdded = median(byCipher.get(cipher)!.map((x, i) => x - byCipher.get('none')![i]!));
    const added = cipher === 'none' ? `added by the transport ${(t - r).toFixed(1)} µs` : `added by sealing ${pairedAdded.toFixed(1)} µs paired, ${(t - plain).toFixed(1)} µs of medians`;
    console.log(`  ${cipher.padEnd(18)} heartbeat ${t.toFixed(1)} µs (${added})   rounds: ${byCipher.get(cipher)!.map((x) => x.toFixed(1)).join(', ')}`);
  }
}

await throughput();
await latency();
