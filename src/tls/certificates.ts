import type { X509Certificate } from 'node:crypto';
import { PorticoError } from '../errors.ts';

/** A certificate chain and its private key, as PEM. The chain starts with the leaf. */
export interface PemKeyPair {
  readonly cert: string;
  readonly key: string;
}

/**
 * Checks a serving certificate before anything uses it: the leaf parses, the key parses and belongs to
 * it, and it is valid now. Returns the leaf's notAfter (ms since the epoch). Throws a PorticoError
 * `INVALID_CONFIG` whose message names `origin` (the Secret or files it came from) and says exactly
 * what is wrong.
 */
export function checkServerCertificate(pair: PemKeyPair, origin: string, now = Date.now()): number {
  let leaf: X509Certificate;
  try {
    leaf = new (process.getBuiltinModule('node:crypto').X509Certificate)(pair.cert);
  } catch (cause) {
    throw new PorticoError('INVALID_CONFIG', `${origin}: the certificate is not valid PEM`, { cause });
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(process.getBuiltinModule('node:crypto').createPrivateKey(pair.key));
  } catch (cause) {
    throw new PorticoError('INVALID_CONFIG', `${origin}: the private key is not valid PEM`, { cause });
  }
  if (!matches)
    throw new PorticoError('INVALID_CONFIG', `${origin}: the private key does not match the certificate`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now)
    throw new PorticoError(
      'INVALID_CONFIG',
      `${origin}: the certificate expired on ${notAfter.toISOString()}`,
    );
  if (notBefore.getTime() > now)
    throw new PorticoError(
      'INVALID_CONFIG',
      `${origin}: the certificate is not valid before ${notBefore.toISOString()}`,
    );
  return notAfter.getTime();
}

/** Checks a PEM CA bundle for client-certificate validation; returns it unchanged. */
export function checkCaBundle(pem: string, origin: string): string {
  try {
    new (process.getBuiltinModule('node:crypto').X509Certificate)(pem);
  } catch (cause) {
    throw new PorticoError('INVALID_CONFIG', `${origin}: the CA bundle is not valid PEM`, { cause });
  }
  return pem;
}
