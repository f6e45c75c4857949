import type { TLSSocket } from 'node:tls';

/** The client certificate of a TLS connection, as filters and upstreams see it. */
export interface ClientCertificateInfo {
  /** `none`: no certificate was presented; `verified`: it chains to the CA; `failed`: it does not. */
  readonly status: 'none' | 'verified' | 'failed';
  /** OpenSSL's reason when `failed`, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`. */
  readonly error: string | undefined;
  /** Subject as `CN=client,O=Example`. */
  readonly subject: string | undefined;
  /** subjectAltName entries, e.g. `DNS:client.example`, `URI:spiffe://example/ns/a/sa/b`. */
  readonly sans: readonly string[];
  /** SHA-256 fingerprint, hex without colons, lower case (as Envoy's XFCC `Hash`). */
  readonly fingerprint256: string | undefined;
}

const NONE: ClientCertificateInfo = Object.freeze({
  status: 'none',
  error: undefined,
  subject: undefined,
  sans: [],
  fingerprint256: undefined,
});

/** Per connection: reading the peer certificate allocates, and every request on a connection shares it. */
const cache = new WeakMap<object, ClientCertificateInfo>();

/** The client certificate of a downstream TLS socket; `status: 'none'` for a plaintext one. */
export function clientCertificateOf(socket: TLSSocket): ClientCertificateInfo {
  let info = cache.get(socket);
  if (info !== undefined) return info;
  info = socket.encrypted === true ? read(socket) : NONE;
  cache.set(socket, info);
  return info;
}

function read(socket: TLSSocket): ClientCertificateInfo {
  const cert = socket.getPeerCertificate();
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return NONE;
  const subject = Object.entries(cert.subject ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
  return Object.freeze({
    status: socket.authorized ? 'verified' : 'failed',
    error: socket.authorized ? undefined : String(socket.authorizationError ?? 'UNKNOWN'),
    subject,
    sans: cert.subjectaltname === undefined ? [] : cert.subjectaltname.split(', '),
    fingerprint256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
  });
}

/**
 * Envoy's `x-forwarded-client-cert` encoding of a verified certificate, which upstream services already
 * parse: `Hash=<sha256>;Subject="CN=a,O=b";URI=spiffe://...;DNS=a.example`.
 */
export function formatForwardedClientCertificate(info: ClientCertificateInfo): string {
  const parts = [`Hash=${info.fingerprint256}`, `Subject="${(info.subject ?? '').replaceAll('"', '\\"')}"`];
  for (const san of info.sans) {
    if (san.startsWith('URI:')) parts.push(`URI=${san.slice(4)}`);
    else if (san.startsWith('DNS:')) parts.push(`DNS=${san.slice(4)}`);
  }
  return parts.join(';');
}
