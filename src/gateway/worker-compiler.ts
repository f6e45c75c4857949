import type { Route } from '../routing/schema.ts';
import { RouteCompiler, assembleRouteTable, stillValid, type CompiledRoute } from '../routing/table.ts';
import { CertificateEntryCache, sharedTicketKeys } from '../tls/index.ts';
import { compileCertificates } from './certificates.ts';
import type { WireRouteSet } from './route-set.ts';
import { assembleGatewayTable, type GatewayTable } from './runtime.ts';

interface KeptRoute {
  /** Kept to recompile when a ref resolves differently: a delta carries no text for a known key. */
  readonly text: string;
  readonly compiled: CompiledRoute;
  /** The Route itself when it has `tls`, for the certificate store; others are not kept. */
  readonly tlsRoute: Route | undefined;
  /** The last version whose set held this key. */
  seenIn: number;
}

/**
 * A worker's compiler. It keeps each Route compiled under its wire key, so a version that changes one
 * Route of 10,000 parses and compiles one and reassembles the indexes from the rest — the work and
 * the garbage of a swap follow the change, not the table. A kept Route is recompiled when a ref of
 * its resolves differently (its Backend appeared or went). Certificates keep their contexts too.
 */
export class WorkerTableCompiler {
  readonly #routes = new Map<number, KeptRoute>();
  /** What the last `compile` did: Routes compiled anew, Routes reused, Routes kept for the next one. */
  lastStats = { compiled: 0, reused: 0, kept: 0 };
  readonly #certificates = new CertificateEntryCache(sharedTicketKeys());

  /**
   * The table for `set`, or `undefined` when `set` is a delta naming a Route this worker never saw
   * (it started after the previous broadcast): the caller asks the primary for the full set.
   */
  compile(set: WireRouteSet): GatewayTable | undefined {
    const compiler = new RouteCompiler(set.backends);
    const compiled: CompiledRoute[] = [];
    const tlsRoutes: Route[] = [];
    let fresh = 0;
    for (let i = 0; i < set.routeKeys.length; i++) {
      const key = set.routeKeys[i]!;
      let kept = this.#routes.get(key);
      if (kept === undefined || !stillValid(kept.compiled, compiler.backends)) {
        // Leaving early is safe: what was compiled so far is kept, and only a finished compile sweeps.
        const text = kept?.text ?? set.routeTexts[key];
        if (text === undefined) return undefined;
        const route = JSON.parse(text) as Route;
        kept = { text, compiled: compiler.compile(route), tlsRoute: route.spec.tls && route, seenIn: 0 };
        this.#routes.set(key, kept);
        fresh += 1;
      }
      kept.seenIn = set.version;
      compiled.push(kept.compiled);
      if (kept.tlsRoute !== undefined) tlsRoutes.push(kept.tlsRoute);
    }
    const table = assembleGatewayTable(
      set,
      assembleRouteTable(compiled, compiler, set.version),
      compileCertificates(tlsRoutes, set.files, this.#certificates).store,
    );
    this.#routes.forEach((kept, key, routes) => kept.seenIn !== set.version && routes.delete(key));
    this.lastStats = { compiled: fresh, reused: compiled.length - fresh, kept: this.#routes.size };
    return table;
  }
}
