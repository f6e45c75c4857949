import type { FieldError } from '../errors.ts';
import { whyRouteWins } from '../routing/conflicts.ts';
import type { Route } from '../routing/schema.ts';
import { routeIdOf, sortRoutes } from '../routing/table.ts';
import {
  CertificateStore,
  type CertificateEntry,
  type CertificateExpiry,
  type CertificateEntryCache,
  type CertificateSpec,
  type PemKeyPair,
} from '../tls/index.ts';
import { secretFileKey } from './route-set.ts';

/** The key of a Route's certificate entry (`CertificateSpec.key`), e.g. `Route default/shop`. */
export function routeCertificateKey(routeId: string): string {
  return `Route ${routeId}`;
}

/** A RouteSet's certificates, and why any Route's could not be served. */
export interface CompiledCertificates {
  readonly store: CertificateStore;
  /** Unusable certificates (bad PEM, key mismatch, expired) and hostname conflicts, per Route. */
  readonly errors: FieldError[];
  /** When each usable certificate expires, by Route (`namespace/name`) and origin. */
  readonly expiries: Array<CertificateExpiry & { readonly route: string }>;
}

/**
 * The PEM material a Route's `tls` references, as keys of a RouteSet's `files` (paths for
 * `certificateFiles` and `caFile`, {@link secretFileKey}s for Secrets), with the field each comes from.
 */
export function routeTlsFileKeys(route: Route): Array<{ key: string; path: string; origin: string }> {
  const tls = route.spec.tls;
  if (tls === undefined) return [];
  const namespace = route.metadata.namespace ?? 'default';
  const out: Array<{ key: string; path: string; origin: string }> = [];
  tls.certificateRefs?.forEach((ref, i) => {
    for (const entry of ['tls.crt', 'tls.key'])
      out.push({
        key: secretFileKey(namespace, ref.name, entry),
        path: `spec.tls.certificateRefs[${i}]`,
        origin: `Secret ${namespace}/${ref.name}`,
      });
  });
  tls.certificateFiles?.forEach((pair, i) => {
    out.push({ key: pair.certFile, path: `spec.tls.certificateFiles[${i}].certFile`, origin: pair.certFile });
    out.push({ key: pair.keyFile, path: `spec.tls.certificateFiles[${i}].keyFile`, origin: pair.keyFile });
  });
  const validation = tls.clientValidation;
  if (validation?.caSecretRef !== undefined) {
    const ref = validation.caSecretRef;
    out.push({
      key: secretFileKey(namespace, ref.name, 'ca.crt'),
      path: 'spec.tls.clientValidation.caSecretRef',
      origin: `Secret ${namespace}/${ref.name}`,
    });
  } else if (validation?.caFile !== undefined) {
    out.push({ key: validation.caFile, path: 'spec.tls.clientValidation.caFile', origin: validation.caFile });
  }
  return out;
}

/**
 * Builds the SNI store from the Routes' `tls`: each hostname of a Route gets the Route's certificates
 * (one entry per Route, keyed by the Route, so its hostnames may share connections); a Route without
 * hostnames provides the default. When two Routes claim a hostname (or the default), the older Route
 * wins, then the first by `namespace/name` (Gateway API's tie-break, as for their matches), and the
 * other gets a `CertificateConflict` naming the winner. A Route whose material is
 * missing (already reported by whoever loaded the files) or unusable serves no certificate.
 *
 * The primary runs this to report errors, each worker to serve; both reach the same result.
 */
export function compileCertificates(
  routes: readonly Route[],
  files: Readonly<Record<string, string>>,
  cache: CertificateEntryCache,
): CompiledCertificates {
  const hosts = new Map<string, CertificateEntry>();
  const owners = new Map<string, Route>();
  const errors: FieldError[] = [];
  const expiries: CompiledCertificates['expiries'] = [];
  let fallback: CertificateEntry | undefined;
  let fallbackOwner: Route | undefined;
  for (const route of sortRoutes(routes.filter((r) => r.spec.tls !== undefined))) {
    const id = routeIdOf(route);
    const object = `Route ${id}`;
    const spec = certificateSpec(route, files);
    if (spec === undefined) continue;
    let entry: CertificateEntry;
    try {
      entry = cache.entry(spec);
    } catch (error) {
      errors.push({
        object,
        path: 'spec.tls',
        message: (error as Error).message,
        reason: 'InvalidCertificateRef',
      });
      continue;
    }
    for (const expiry of entry.expiries) expiries.push({ route: id, ...expiry });
    const names = route.spec.hostnames ?? [];
    if (names.length === 0) {
      if (fallbackOwner === undefined) {
        fallback = entry;
        fallbackOwner = route;
      } else {
        errors.push(conflict(object, 'spec.tls', fallbackOwner, route, 'provides the default certificate'));
      }
      continue;
    }
    names.forEach((name, i) => {
      const owner = owners.get(name);
      if (owner !== undefined && owner !== route) {
        errors.push(
          conflict(object, `spec.hostnames[${i}]`, owner, route, `serves a certificate for ${name}`),
        );
        return;
      }
      owners.set(name, route);
      hosts.set(name, entry);
    });
  }
  cache.seal();
  return { store: new CertificateStore(hosts, fallback), errors, expiries };
}

/** The loser's error: the winning Route by `namespace/name`, what it holds, and why it won. */
function conflict(object: string, path: string, winner: Route, loser: Route, holds: string): FieldError {
  return {
    object,
    path,
    message: `Route ${routeIdOf(winner)} already ${holds}: ${whyRouteWins(winner, loser)}`,
    reason: 'CertificateConflict',
  };
}

/** The Route's certificate spec, or undefined when some referenced material is not in `files`. */
function certificateSpec(route: Route, files: Readonly<Record<string, string>>): CertificateSpec | undefined {
  const keys = routeTlsFileKeys(route);
  if (keys.some((k) => files[k.key] === undefined)) return undefined;
  const pairs: Array<PemKeyPair & { origin: string }> = [];
  let ca: string | undefined;
  for (let i = 0; i < keys.length; i++) {
    const { key, path, origin } = keys[i]!;
    if (path.endsWith('caSecretRef') || path.endsWith('caFile')) ca = files[key];
    else pairs.push({ cert: files[key]!, key: files[keys[++i]!.key]!, origin });
  }
  const validation = route.spec.tls!.clientValidation;
  return {
    key: routeCertificateKey(routeIdOf(route)),
    pairs,
    clientValidation: validation === undefined ? undefined : { mode: validation.mode, ca: ca! },
  };
}
