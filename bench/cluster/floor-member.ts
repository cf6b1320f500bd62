/**
 * The floor (scenario F): the work a replicated log cannot avoid, without Raft. One process per
 * member, like the Raft cluster:
 * - the leader groups every proposal made in one event-loop turn into one batch, encodes it once
 *   with msgpackr, writes it with one sync batch to classic-level (via `level`) and sends the same
 *   bytes over TCP to both followers;
 * - a follower writes each batch it receives with one sync batch and acks its sequence number;
 * - a batch is committed once the leader's own write and one follower's ack are done (a majority
 *   of three), in order; its proposals resolve then.
 * No terms, no elections, no checks: what is left is fsync, encoding, the socket and the loop, so
 * a Raft figure divided by this one says what Raft itself costs. Driven over IPC like raft-member.ts.
 */
import { createServer, connect, type Socket } from 'node:net';
import { Level } from 'level';
import { pack, unpack } from 'msgpackr';
import { runLoad, type LoadRequest } from './load.ts';
import { sendEvent, serveRequests } from './ipc.ts';

export interface FloorMemberArgs {
  readonly role: 'leader' | 'follower';
  readonly dataDir: string;
  /** Follower: the port to listen on. */
  readonly port?: number;
  /** Leader: the followers' ports. */
  readonly followers?: number[];
}

interface BatchFrame {
  seq: number;
  first: number;
  entries: Uint8Array[];
}

function indexKey(i: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(i));
  return k;
}

/** Splits a byte stream into [u32 length][payload] frames. */
function onFrames(socket: Socket, frame: (payload: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      frame(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
    }
  });
}

const args = JSON.parse(process.argv[2]!) as FloorMemberArgs;
const db = new Level<Buffer, Buffer>(args.dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
await db.open();

if (args.role === 'follower') {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    onFrames(socket, (payload) => {
      const b = unpack(payload) as BatchFrame;
      const ops = b.entries.map((value, i) => ({ type: 'put' as const, key: indexKey(b.first + i), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }));
      void db.batch(ops, { sync: true }).then(() => {
        const ack = Buffer.allocUnsafe(8);
        ack.writeUInt32BE(4, 0);
        ack.writeUInt32BE(b.seq, 4);
        socket.write(ack);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(args.port!, '127.0.0.1', resolve));
  serveRequests({ stop: async () => {
    server.close();
    await db.close();
    setImmediate(() => process.exit(0));
  } });
  sendEvent('started');
} else {
  interface Batch {
    resolves: (() => void)[];
    local: boolean;
    acks: number;
  }
  const sockets: Socket[] = [];
  for (const port of args.followers!) {
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    sockets.push(s);
  }
  let pending: { data: Uint8Array; resolve: () => void }[] = [];
  let scheduled = false;
  let nextIndex = 1;
  let lastSeq = 0;
  let committedSeq = 0;
  const batches = new Map<number, Batch>();
  const followerAcked = sockets.map(() => new Set<number>());

  const advance = (): void => {
    for (;;) {
      const b = batches.get(committedSeq + 1);
      if (!b || !b.local || b.acks < 1) return;
      batches.delete(++committedSeq);
      for (const r of b.resolves) r();
    }
  };
  sockets.forEach((s, f) =>
    onFrames(s, (payload) => {
      const seq = payload.readUInt32BE(0);
      if (followerAcked[f]!.has(seq)) return;
      followerAcked[f]!.add(seq);
      const b = batches.get(seq);
      if (b) b.acks++;
      advance();
    }),
  );

  const flush = (): void => {
    scheduled = false;
    const taken = pending;
    pending = [];
    const seq = ++lastSeq;
    const first = nextIndex;
    nextIndex += taken.length;
    const entries = taken.map((p) => p.data);
    const batch: Batch = { resolves: taken.map((p) => p.resolve), local: false, acks: 0 };
    batches.set(seq, batch);
    const payload = pack({ seq, first, entries } satisfies BatchFrame);
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(payload.length);
    const frame = Buffer.concat([header, payload]);
    for (const s of sockets) s.write(frame);
    const ops = entries.map((value, i) => ({ type: 'put' as const, key: indexKey(first + i), value: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }));
    void db.batch(ops, { sync: true }).then(() => {
      batch.local = true;
      advance();
    });
  };

  const propose = (data: Uint8Array): Promise<void> =>
    new Promise<void>((resolve) => {
      pending.push({ data, resolve });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });

  serveRequests({
    load: (req) => runLoad(propose, req as unknown as LoadRequest),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await db.close();
      setImmediate(() => process.exit(0));
    },
  });
  sendEvent('started');
}
