/**
 * An in-process network for scenario B: the `Transport` of each node hands messages to a hub that
 * delivers them on a later turn of the event loop (as a socket would), every message queued in one
 * turn in one go. No encoding and no copies, so the figure measures the node and nothing else.
 */
import type { Message, MessageHandler, Transport } from '../../src/index.ts';

export class InMemoryNetwork {
  private readonly handlers = new Map<number, MessageHandler>();
  private queue: Message[] = [];
  private scheduled = false;
  delivered = 0;

  /** The `NodeOptions.transport` factory for node `id`. */
  transportFor(id: number): (handler: MessageHandler) => Transport {
    return (handler) => ({
      send: (msg) => this.send(msg),
      start: async () => {
        this.handlers.set(id, handler);
      },
      stop: async () => {
        this.handlers.delete(id);
      },
      addPeer: () => undefined,
      removePeer: () => undefined,
    });
  }

  private send(msg: Message): void {
    this.queue.push(msg);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const msg of batch) {
      const h = this.handlers.get(msg.to);
      if (h) {
        this.delivered++;
        h(msg);
      }
    }
  }
}
