import type { SecureContext } from 'node:tls';
import { InvalidArgumentError } from '../errors.ts';
import { checkCaBundle, checkServerCertificate, type PemKeyPair } from './certificates.ts';

/** How a TLS listener treats client certificates for one certificate entry. */
export interface ClientValidation {
  /** `Require`: the handshake fails without a certificate (alert 116) and an untrusted one closes
   * the connection; `Optional`: the certificate is asked for and its verification result reported. */
  readonly mode: 'Require' | 'Optional';
  /** PEM CA bundle client certificates must chain to. */
  readonly ca: string;
}

/** What a certificate entry is made of: one or more key pairs (e.g. ECDSA and RSA) and client validation. */
export interface CertificateSpec {
  /**
   * Stable identity of the TLS policy, e.g. the Route that owns the names. Two hosts with the same key
   * may share a connection (HTTP/2 coalescing); a request whose Host maps to another key gets 421.
   * A rotated certificate keeps its key, so connections made before the rotation keep working.
   */
  readonly key: string;
  /** `origin` names where a pair came from (a Secret, a file) in error messages. */
  readonly pairs: ReadonlyArray<PemKeyPair & { readonly origin?: string }>;
  readonly clientValidation?: ClientValidation;
}

/** One entry of a {@link CertificateStore}: its spec and the SecureContext built from it. */
export interface CertificateEntry {
  readonly key: string;
  readonly context: SecureContext;
  readonly clientValidation: ClientValidation | undefined;
  /** Hash of the PEM material; a change means a rotation. */
  readonly digest: string;
  /** Each certificate's notAfter (ms since the epoch), by the origin its pair came from. */
  readonly expiries: readonly CertificateExpiry[];
}

export interface CertificateExpiry {
  /** The Secret or file the certificate came from (its spec's key when the pair names none). */
  readonly origin: string;
  readonly notAfterMs: number;
}

/**
 * Mozilla's "intermediate" TLS 1.2 suites (forward secret, AEAD only); TLS 1.3 suites are OpenSSL's
 * defaults, which are all strong.
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Defaults every downstream SecureContext gets: TLS 1.2 or newer, strong suites only. */
export const SERVER_TLS_DEFAULTS = Object.freeze({
  minVersion: 'TLSv1.2' as const,
  ciphers: `TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:${TLS12_CIPHERS}`,
  honorCipherOrder: false,
});

/**
 * SNI → certificate, immutable. Lookup order: the exact name, then a `*.` wildcard for the name's
 * parent (one label, as certificates match), then the default entry. Build a new store to change
 * anything and hand it to the listener; connections already open keep the context they negotiated.
 */
export class CertificateStore {
  readonly #exact = new Map<string, CertificateEntry>();
  readonly #wildcard = new Map<string, CertificateEntry>();
  readonly default: CertificateEntry | undefined;
  readonly size: number;

  /**
   * @param hosts names (`a.example.com`, `*.example.com`) → entry; lower case.
   * @param fallback the entry for clients that send no SNI, or a name no entry covers.
   */
  constructor(hosts: ReadonlyMap<string, CertificateEntry>, fallback?: CertificateEntry) {
    for (const [name, entry] of hosts) {
      if (name.startsWith('*.')) this.#wildcard.set(name.slice(2), entry);
      else this.#exact.set(name, entry);
    }
    this.default = fallback;
    this.size = hosts.size + (fallback === undefined ? 0 : 1);
  }

  /** The entry for a server name (SNI or a Host without its port); case-insensitive. */
  lookup(servername: string | undefined): CertificateEntry | undefined {
    if (servername === undefined || servername === '') return this.default;
    let name = servername;
    let entry = this.#exact.get(name);
    if (entry !== undefined) return entry;
    if (/[A-Z]/.test(name)) {
      name = name.toLowerCase();
      entry = this.#exact.get(name);
      if (entry !== undefined) return entry;
    }
    const dot = name.indexOf('.');
    if (dot > 0) entry = this.#wildcard.get(name.slice(dot + 1));
    return entry ?? this.default;
  }
}

/**
 * Builds certificate entries, reusing the SecureContext of any spec whose PEM material did not change
 * since the previous build: rebuilding every context on every routing change would cost milliseconds
 * per certificate and would throw away TLS session caches.
 */
export class CertificateEntryCache {
  readonly #ticketKeys: Buffer;
  #previous = new Map<string, CertificateEntry>();
  #current = new Map<string, CertificateEntry>();

  /** @param ticketKeys session ticket keys every context shares (see `sharedTicketKeys`). */
  constructor(ticketKeys: Buffer) {
    this.#ticketKeys = ticketKeys;
  }

  /**
   * The entry for a spec. New material is checked first (see `checkServerCertificate`): a PorticoError
   * `INVALID_CONFIG` names the pair's origin and the problem.
   */
  entry(spec: CertificateSpec): CertificateEntry {
    const digest = digestOf(spec);
    const cacheKey = `${spec.key}\n${digest}`;
    let entry = this.#current.get(cacheKey) ?? this.#previous.get(cacheKey);
    if (entry === undefined) {
      if (spec.pairs.length === 0)
        throw new InvalidArgumentError('pairs', `${spec.key}: no certificate given`);
      const expiries = spec.pairs.map((pair) => {
        const origin = pair.origin ?? spec.key;
        return { origin, notAfterMs: checkServerCertificate(pair, origin) };
      });
      if (spec.clientValidation !== undefined)
        checkCaBundle(spec.clientValidation.ca, `${spec.key} client CA`);
      // node:tls loads with the first certificate, not at import: a plaintext worker never needs it.
      const context = process.getBuiltinModule('node:tls').createSecureContext({
        ...SERVER_TLS_DEFAULTS,
        cert: spec.pairs.map((p) => p.cert),
        key: spec.pairs.map((p) => p.key),
        ca: spec.clientValidation?.ca,
        ticketKeys: this.#ticketKeys,
        // Ties session IDs to this entry, so a session resumed under another entry's name is refused.
        sessionIdContext: process
          .getBuiltinModule('node:crypto')
          .createHash('sha256')
          .update(spec.key)
          .digest('hex')
          .slice(0, 32),
      });
      entry = Object.freeze({
        key: spec.key,
        context,
        clientValidation: spec.clientValidation,
        digest,
        expiries: Object.freeze(expiries),
      });
    }
    this.#current.set(cacheKey, entry);
    return entry;
  }

  /** Ends a build: entries not asked for since the previous `seal` are forgotten. */
  seal(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
}

function digestOf(spec: CertificateSpec): string {
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  for (const pair of spec.pairs) hash.update(pair.cert).update('\0').update(pair.key).update('\0');
  const validation = spec.clientValidation;
  if (validation !== undefined) hash.update(validation.mode).update('\0').update(validation.ca);
  return hash.digest('base64url');
}
