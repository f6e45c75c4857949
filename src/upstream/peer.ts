import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, PorticoError } from '../errors.ts';

/** A client certificate and key for mutual TLS to an upstream, checked to belong together. */
export interface ClientCertificate {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 of the certificate; part of the pool identity, so two certificates never share a pool. */
  readonly fingerprint: string;
}

/**
 * Loads and checks a client certificate without blocking the event loop. Rejects with a message naming the
 * file when the PEM does not parse or the key does not match the certificate.
 */
export async function loadClientCertificate(certFile: string, keyFile: string): Promise<ClientCertificate> {
  const [cert, key] = await Promise.all([readPem(certFile), readPem(keyFile)]);
  return clientCertificateFromPem(cert, key, `${certFile} / ${keyFile}`);
}

/** Checks an in-memory certificate and key pair (e.g. from a Kubernetes Secret). */
export function clientCertificateFromPem(
  cert: string,
  key: string,
  origin = 'client certificate',
): ClientCertificate {
  let x509: X509Certificate;
  try {
    x509 = new (process.getBuiltinModule('node:crypto').X509Certificate)(cert);
  } catch (cause) {
    throw new PorticoError('INVALID_CONFIG', `${origin}: certificate is not valid PEM`, { cause });
  }
  try {
    if (!x509.checkPrivateKey(process.getBuiltinModule('node:crypto').createPrivateKey(key))) {
      throw new PorticoError('INVALID_CONFIG', `${origin}: private key does not match the certificate`);
    }
  } catch (cause) {
    if (cause instanceof PorticoError) throw cause;
    throw new PorticoError('INVALID_CONFIG', `${origin}: private key is not valid PEM`, { cause });
  }
  return Object.freeze({ cert, key, fingerprint: x509.fingerprint256 });
}

async function readPem(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new PorticoError('INVALID_CONFIG', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** Upstream timeouts in milliseconds. `0` disables `connect` or `read`; `idle` must be positive. */
export interface PeerTimeouts {
  /** TCP + TLS handshake. Default 5 000. */
  connect: number;
  /** Waiting for response headers, and between response body chunks. Default 60 000. */
  read: number;
  /** A pooled connection unused this long is closed; keep it below the upstream's own idle timeout. Default 4 000. */
  idle: number;
}

export type Alpn = 'h1' | 'h2' | 'h2h1';

export interface HttpPeerOptions {
  /** `host:port`, `[v6]:port`, or `unix:/path/to.sock`. The socket address that is dialled. */
  address: string;
  /** Speak TLS to the upstream. Default false. */
  tls?: boolean;
  /** Server name sent in the TLS ClientHello and checked against the certificate. Default: the dialled host. */
  sni?: string;
  /** Host header sent upstream. Default: the downstream request's Host. */
  host?: string;
  /** Verify the upstream certificate chain and its name. Default true. */
  verify?: boolean;
  /** PEM CA bundle to trust instead of the system roots. */
  ca?: string;
  /** Client certificate for mutual TLS, from {@link loadClientCertificate}. */
  clientCertificate?: ClientCertificate;
  /**
   * The HTTP version to speak. Default 'h1'. With TLS it is what ALPN offers: `h2` requires the upstream to
   * choose HTTP/2, `h2h1` prefers it and falls back to HTTP/1.1. Without TLS there is nothing to negotiate:
   * `h2` means HTTP/2 with prior knowledge (h2c), and `h2h1` is refused.
   */
  alpn?: Alpn;
  timeouts?: Partial<PeerTimeouts>;
  /** Most connections kept open to this peer; with HTTP/2, most sessions. Default 128. */
  maxConnections?: number;
  /**
   * HTTP/2: most requests in flight on one session; more open another session, up to `maxConnections`.
   * The upstream's own SETTINGS_MAX_CONCURRENT_STREAMS lowers it, never raises it. Default 100.
   */
  maxConcurrentStreams?: number;
}

const DEFAULT_TIMEOUTS: PeerTimeouts = Object.freeze({ connect: 5_000, read: 60_000, idle: 4_000 });

/**
 * Says how to reach one upstream. Immutable; peers with equal `identity` share one connection pool, so a
 * different SNI, CA or client certificate always means a different pool.
 */
export class HttpPeer {
  readonly address: string;
  /** Host part of a TCP address, or undefined for a unix socket. */
  readonly hostname: string | undefined;
  readonly port: number | undefined;
  readonly socketPath: string | undefined;
  readonly tls: boolean;
  readonly sni: string | undefined;
  readonly host: string | undefined;
  readonly verify: boolean;
  readonly ca: string | undefined;
  readonly clientCertificate: ClientCertificate | undefined;
  readonly alpn: Alpn;
  readonly timeouts: PeerTimeouts;
  readonly maxConnections: number;
  readonly maxConcurrentStreams: number;
  /** Pool key: every field that changes how a connection is made. */
  readonly identity: string;

  constructor(options: HttpPeerOptions) {
    if (typeof options?.address !== 'string' || options.address === '') {
      throw new InvalidArgumentError('address', 'must be "host:port" or "unix:/path"');
    }
    this.address = options.address;
    if (options.address.startsWith('unix:')) {
      this.socketPath = options.address.slice(5);
      if (this.socketPath === '') throw new InvalidArgumentError('address', 'unix socket path is empty');
      this.hostname = undefined;
      this.port = undefined;
    } else {
      const { hostname, port } = parseHostPort(options.address);
      this.hostname = hostname;
      this.port = port;
      this.socketPath = undefined;
    }
    this.tls = options.tls ?? false;
    this.sni = options.sni;
    this.host = options.host;
    this.verify = options.verify ?? true;
    this.ca = options.ca;
    this.clientCertificate = options.clientCertificate;
    this.alpn = options.alpn ?? 'h1';
    if (!['h1', 'h2', 'h2h1'].includes(this.alpn))
      throw new InvalidArgumentError('alpn', 'must be h1, h2 or h2h1');
    if (this.alpn === 'h2h1' && !this.tls) {
      throw new InvalidArgumentError(
        'alpn',
        'h2h1 needs tls: true to negotiate; use h2 for h2c (prior knowledge)',
      );
    }
    this.timeouts = validateTimeouts({ ...DEFAULT_TIMEOUTS, ...options.timeouts });
    this.maxConnections = positiveInteger(options.maxConnections ?? 128, 'maxConnections');
    this.maxConcurrentStreams = positiveInteger(options.maxConcurrentStreams ?? 100, 'maxConcurrentStreams');
    if (
      !this.tls &&
      (this.sni !== undefined || this.clientCertificate !== undefined || this.ca !== undefined)
    ) {
      throw new InvalidArgumentError('tls', 'sni, ca and clientCertificate need tls: true');
    }
    this.identity = this.computeIdentity();
    Object.freeze(this);
  }

  /** The undici origin for this peer: the scheme and dialled address (a unix socket dials `localhost`). */
  get origin(): string {
    const scheme = this.tls ? 'https' : 'http';
    if (this.socketPath !== undefined) return `${scheme}://localhost`;
    const host = this.hostname!.includes(':') ? `[${this.hostname}]` : this.hostname!;
    return `${scheme}://${host}:${this.port}`;
  }

  toString(): string {
    return this.tls
      ? `https://${this.address}${this.sni ? ` (sni ${this.sni})` : ''}`
      : `http://${this.address}`;
  }

  private computeIdentity(): string {
    const t = this.timeouts;
    const parts = [
      this.tls ? 'tls' : 'tcp',
      this.address,
      this.sni ?? '',
      this.verify ? 'v' : 'nv',
      this.ca === undefined
        ? ''
        : process.getBuiltinModule('node:crypto').createHash('sha256').update(this.ca).digest('base64url'),
      this.clientCertificate?.fingerprint ?? '',
      this.alpn,
      `${t.connect}/${t.read}/${t.idle}`,
      String(this.maxConnections),
      String(this.maxConcurrentStreams),
    ];
    return parts.join('|');
  }
}

function parseHostPort(address: string): { hostname: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new InvalidArgumentError('address', `"${address}" is not host:port, [ipv6]:port or unix:/path`);
  }
  return { hostname: (match[1] ?? match[2])!, port };
}

function positiveInteger(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(option, 'must be a positive integer');
  return value;
}

function validateTimeouts(timeouts: PeerTimeouts): PeerTimeouts {
  for (const [name, value] of Object.entries(timeouts)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`timeouts.${name}`, 'must be a non-negative number of milliseconds');
    }
  }
  // A pooled connection must close before the upstream closes it (the keep-alive race): never "no limit".
  if (timeouts.idle === 0)
    throw new InvalidArgumentError('timeouts.idle', 'must be a positive number of milliseconds');
  return Object.freeze(timeouts);
}
