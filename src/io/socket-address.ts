/** `host:port` strings as the TCP transport dials, binds and compares them. */
import { ConfigError } from '../errors.ts';

/** A socket's remote address as compared with member hosts (IPv4-mapped IPv6 unwrapped). */
export function sourceHost(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h;
}

/** `host:port` → [host, port], IPv6 brackets removed. Assumes the address was validated. */
export function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return [host, Number(address.slice(i + 1))];
}

/** Like peer addresses, but port 0 ("any free port") is allowed for binding. */
export function parseBindAddr(addr: unknown): [string, number] {
  if (typeof addr !== 'string' || !/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(addr)) {
    throw new ConfigError('bindAddr', `must be host:port (port 0 for any free port), got ${JSON.stringify(addr)}`);
  }
  const [host, port] = splitHostPort(addr);
  if (port > 65535) throw new ConfigError('bindAddr', `port must be at most 65535, got ${port}`);
  return [host, port];
}
