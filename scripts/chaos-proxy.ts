/**
 * The chaos runner's network: one TCP proxy in front of each member's Raft port. Every member is
 * configured (in `--peers` and in membership changes) with the proxy's address of every other
 * member, so all Raft traffic passes through a proxy; the member itself listens on another port
 * (`--listen`). A proxy learns who dialed from the first frame of the connection, the plaintext
 * hello of the handshake (4-byte length, msgpack body with the sender's node id), and forwards the
 * connection only while the link between the two members is up. Cutting a link closes its open
 * connections and refuses new ones until it is healed, so a partition is exact per pair of members
 * and symmetric (one connection per pair carries both directions).
 */
import * as net from 'node:net';
import { decodeHello } from '../src/io/wire.ts';

/** Which pairs of members may talk. */
export class LinkRules {
  private cut = new Set<string>();

  private static key(a: number, b: number): string {
    return a < b ? `${a}-${b}` : `${b}-${a}`;
  }

  allowed(a: number, b: number): boolean {
    return !this.cut.has(LinkRules.key(a, b));
  }

  /** Cuts every link between members of different groups. */
  partition(groups: readonly (readonly number[])[]): void {
    this.cut = new Set();
    for (let g = 0; g < groups.length; g++) {
      for (let h = g + 1; h < groups.length; h++) for (const a of groups[g]!) for (const b of groups[h]!) this.cut.add(LinkRules.key(a, b));
    }
  }

  /** Cuts exactly the given links. */
  cutLinks(pairs: readonly (readonly [number, number])[]): void {
    this.cut = new Set(pairs.map(([a, b]) => LinkRules.key(a, b)));
  }

  heal(): void {
    this.cut = new Set();
  }

  get cutCount(): number {
    return this.cut.size;
  }
}

interface Link {
  readonly from: number;
  readonly inbound: net.Socket;
  readonly outbound: net.Socket;
}

/** The proxy in front of one member. */
export class MemberProxy {
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  private readonly pending = new Set<net.Socket>();
  /** Connections refused because their link was cut. */
  refused = 0;

  constructor(
    readonly memberId: number,
    /** The member's real Raft address (`host:port`). */
    private readonly target: { host: string; port: number },
    private readonly rules: LinkRules,
  ) {}

  /** Listens on a free loopback port; resolves with it. */
  async start(): Promise<number> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  get port(): number {
    return (this.server!.address() as net.AddressInfo).port;
  }

  /** Applies the current rules to open connections: those on cut links are closed. */
  enforce(): void {
    for (const l of [...this.links]) {
      if (!this.rules.allowed(l.from, this.memberId)) this.drop(l);
    }
  }

  /** Closes every connection (the member was killed or paused for long: its peers must notice). */
  dropAll(): void {
    for (const l of [...this.links]) this.drop(l);
    for (const s of this.pending) s.destroy();
    this.pending.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private drop(l: Link): void {
    this.links.delete(l);
    l.inbound.destroy();
    l.outbound.destroy();
  }

  private accept(inbound: net.Socket): void {
    this.pending.add(inbound);
    inbound.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const len = buffered.readUInt32BE(0);
      if (len > 64 * 1024) return fail();
      if (buffered.length < 4 + len) return;
      let from: number;
      try {
        from = decodeHello(buffered.subarray(4, 4 + len)).nodeId;
      } catch {
        return fail();
      }
      inbound.off('data', onData);
      this.pending.delete(inbound);
      if (!this.rules.allowed(from, this.memberId)) {
        this.refused++;
        inbound.destroy();
        return;
      }
      this.connect(inbound, from, buffered);
    };
    const fail = () => {
      this.pending.delete(inbound);
      inbound.destroy();
    };
    inbound.on('data', onData);
    inbound.on('error', () => {});
    inbound.on('close', () => this.pending.delete(inbound));
  }

  private connect(inbound: net.Socket, from: number, first: Buffer): void {
    inbound.pause();
    const outbound = net.connect(this.target.port, this.target.host);
    outbound.setNoDelay(true);
    const link: Link = { from, inbound, outbound };
    this.links.add(link);
    outbound.on('connect', () => {
      outbound.write(first);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.resume();
    });
    const close = () => this.drop(link);
    outbound.on('error', close);
    inbound.on('error', close);
    outbound.on('close', close);
    inbound.on('close', close);
  }
}
