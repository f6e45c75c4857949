import { InvalidArgumentError } from '../errors.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces); the error names the option it came from. */
export function parseListenAddress(address: string, option: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new InvalidArgumentError(option, `"${address}" is not host:port, [ipv6]:port or :port`);
  }
  const host = match[1] ?? match[2];
  return { host: host === undefined || host === '' ? '0.0.0.0' : host, port };
}
