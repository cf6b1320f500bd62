/**
 * `npm run bench -- transport`: throughput and latency of BidirectionalTransport on loopback.
 *
 * - Throughput: node 1 streams MsgApp messages of 64 entries × 128 B to node 2, keeping a window
 *   of messages in flight so the socket never hits the backpressure drop; messages/s and MB/s of
 *   frames on the wire, median of several rounds.
 * - Latency: one round trip (MsgHeartbeat → MsgHeartbeatResp, answered from the handler) versus
 *   a raw TCP ping-pong of a few bytes on the same machine; medians over many round trips.
 *
 * Both ends run in this one process and share its event loop, like the raw baseline does.
 */
import * as net from 'node:net';
import { BidirectionalTransport } from '../src/io/tcp-transport.ts';
import { EntryType, MessageType, message } from '../src/raft/raftpb.ts';
import type { Message } from '../src/raft/raftpb.ts';

const ROUNDS = 5;
const MESSAGES_PER_ROUND = 20_000;
const WINDOW = 256;
const BATCH = 16;
const ROUND_TRIPS = 2000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function appendMessage(index: number): Message {
  const entries = Array.from({ length: 64 }, (_, i) => ({ term: 1, index: index + i + 1, type: EntryType.Normal, data: new Uint8Array(128).fill(i) }));
  return message({ type: MessageType.MsgApp, from: 1, to: 2, term: 1, logTerm: 1, index, commit: index, entries });
}

async function pair(onMessage: [(m: Message, self: BidirectionalTransport) => void, (m: Message, self: BidirectionalTransport) => void]) {
  const ts: BidirectionalTransport[] = [];
  for (const id of [1, 2]) {
    const t: BidirectionalTransport = new BidirectionalTransport({
      nodeId: id,
      bindAddr: '127.0.0.1:0',
      clusterId: 'bench',
      secret: 'bench-secret-0123456789',
      handler: (m) => onMessage[id - 1]!(m, t),
    });
    await t.start();
    ts.push(t);
  }
  const [a, b] = ts as [BidirectionalTransport, BidirectionalTransport];
  a.addPeer(2, b.address());
  b.addPeer(1, a.address());
  while (!(a.stats().peers[2]!.connected && b.stats().peers[1]!.connected && a.stats().handshakes === 2 && b.stats().handshakes === 2)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return [a, b] as const;
}

async function throughput(): Promise<void> {
  let received = 0;
  let wake: (() => void) | undefined;
  const [a, b] = await pair([() => {}, () => {
    received++;
    wake?.();
  }]);
  const msgs = Array.from({ length: BATCH }, (_, i) => appendMessage(i * 64));
  const rates: number[] = [];
  const mbs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    received = 0;
    const bytes0 = a.stats().bytesSent;
    const t0 = performance.now();
    let sent = 0;
    while (sent < MESSAGES_PER_ROUND) {
      while (sent - received < WINDOW && sent < MESSAGES_PER_ROUND) {
        a.sendBatch(2, msgs);
        sent += BATCH;
      }
      await new Promise<void>((r) => (wake = r));
    }
    while (received < sent) await new Promise<void>((r) => (wake = r));
    const secs = (performance.now() - t0) / 1000;
    rates.push(sent / secs);
    mbs.push((a.stats().bytesSent - bytes0) / secs / 1e6);
  }
  const dropped = a.stats().dropped;
  console.log(`throughput: 64 entries × 128 B per MsgApp, ${MESSAGES_PER_ROUND} messages × ${ROUNDS} rounds, batches of ${BATCH}`);
  console.log(`  median ${Math.round(median(rates)).toLocaleString('en-US')} msgs/s  (${Math.round(median(rates) * 64).toLocaleString('en-US')} entries/s)`);
  console.log(`  median ${median(mbs).toFixed(1)} MB/s of frames   rounds: ${rates.map((r) => Math.round(r)).join(', ')} msgs/s`);
  console.log(`  dropped: ${JSON.stringify(dropped)}`);
  await Promise.all([a.stop(), b.stop()]);
}

async function transportRoundTrip(): Promise<number[]> {
  let done: (() => void) | undefined;
  const [a, b] = await pair([
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
  const transport: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    raw.push(median(await rawRoundTrip()));
    transport.push(median(await transportRoundTrip()));
  }
  const r = median(raw);
  const t = median(transport);
  console.log(`latency: one round trip, median of ${ROUNDS} rounds × ${ROUND_TRIPS} round trips (µs)`);
  console.log(`  raw TCP ping-pong        ${r.toFixed(1)} µs   rounds: ${raw.map((x) => x.toFixed(1)).join(', ')}`);
  console.log(`  transport (heartbeat)    ${t.toFixed(1)} µs   rounds: ${transport.map((x) => x.toFixed(1)).join(', ')}`);
  console.log(`  added by the transport   ${(t - r).toFixed(1)} µs per round trip`);
}

await throughput();
await latency();
