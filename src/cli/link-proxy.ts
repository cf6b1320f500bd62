/**
 * The runner's network switch, so the dashboard can partition a member and heal it: a TCP proxy
 * listens on each member's Raft address (the one in everybody's --peers) and forwards to the
 * address the member really binds (--listen). A proxy learns who dialed from the connection's
 * first frame, the plaintext hello of the handshake (4-byte length, msgpack body naming the
 * sender), and forwards only while neither end is isolated. Isolating a member closes its open
 * connections both ways (one connection per pair carries both directions) and refuses new ones
 * until it is healed: a real partition, which CheckQuorum and elections then see.
 */
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { decodeHello } from '../io/wire.ts';

/** Largest hello accepted before a connection is dropped (a hello is a few hundred bytes). */
const MAX_HELLO_BYTES = 64 * 1024;

/** Which members are cut off from all the others. */
export class Isolation {
  private readonly isolated = new Set<number>();

  /** Whether members `a` and `b` may talk. */
  allowed(a: number, b: number): boolean {
    return a === b || (!this.isolated.has(a) && !this.isolated.has(b));
  }

  isolate(id: number): void {
    this.isolated.add(id);
  }

  heal(): void {
    this.isolated.clear();
  }

  get members(): readonly number[] {
    return [...this.isolated].sort((x, y) => x - y);
  }
}

interface Pair {
  readonly from: number;
  readonly inbound: Socket;
  readonly outbound: Socket;
}

/** The proxy in front of one member's Raft port. */
export class LinkProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private readonly handshaking = new Set<Socket>();

  constructor(
    readonly member: number,
    /** Where the member really listens. */
    private readonly target: { readonly host: string; readonly port: number },
    private readonly isolation: Isolation,
  ) {}

  /** Listens on `host:port` (the member's advertised Raft address). */
  listen(host: string, port: number): Promise<void> {
    const server = createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Closes the connections the isolation no longer allows. */
  enforce(): void {
    for (const p of [...this.pairs]) if (!this.isolation.allowed(p.from, this.member)) this.drop(p);
  }

  close(): Promise<void> {
    for (const p of [...this.pairs]) this.drop(p);
    for (const s of this.handshaking) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private drop(p: Pair): void {
    this.pairs.delete(p);
    p.inbound.destroy();
    p.outbound.destroy();
  }

  private accept(inbound: Socket): void {
    this.handshaking.add(inbound);
    inbound.setNoDelay(true);
    let head = Buffer.alloc(0);
    const refuse = () => {
      this.handshaking.delete(inbound);
      inbound.destroy();
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) return;
      const len = head.readUInt32BE(0);
      if (len > MAX_HELLO_BYTES) return refuse();
      if (head.length < 4 + len) return;
      inbound.off('data', onData);
      let from: number;
      try {
        from = decodeHello(head.subarray(4, 4 + len)).nodeId;
      } catch {
        return refuse();
      }
      if (!this.isolation.allowed(from, this.member)) return refuse();
      this.handshaking.delete(inbound);
      this.forward(inbound, from, head);
    };
    inbound.on('data', onData);
    inbound.on('error', () => {});
    inbound.on('close', () => this.handshaking.delete(inbound));
  }

  private forward(inbound: Socket, from: number, head: Buffer): void {
    inbound.pause();
    const outbound = connect(this.target.port, this.target.host);
    outbound.setNoDelay(true);
    const pair: Pair = { from, inbound, outbound };
    this.pairs.add(pair);
    outbound.on('connect', () => {
      outbound.write(head);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.resume();
    });
    const close = () => this.drop(pair);
    for (const s of [inbound, outbound]) {
      s.on('error', close);
      s.on('close', close);
    }
  }
}

/** A free loopback port on `host` (the member binds it a moment later). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
