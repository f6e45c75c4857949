/**
 * Routing: the Route/Backend schema (one source of truth), validation of untrusted objects, CRD
 * generation, and compilation into an immutable RouteTable with precompiled filters. Pure: no
 * sockets, no timers, no I/O except `writeCrds`.
 */
export {
  API_GROUP,
  API_VERSION,
  BackendSchema,
  BackendSpec,
  ObjectStatus,
  RouteSchema,
  RouteSpec,
  type Backend,
  type BackendRef,
  type Condition,
  type HeaderMatch,
  type PathMatch,
  type PorticoObject,
  type QueryParamMatch,
  type Route,
  type RouteFilter,
  type RouteMatch,
  type RouteRule,
} from './schema.ts';
export { validateObjects, type RejectedObject, type ValidationResult } from './validate.ts';
export { CRD_FILES, crdFor, renderCrdYaml, writeCrds, type CrdKind } from './crd.ts';
export {
  assembleRouteTable,
  compileRouteTable,
  RouteCompiler,
  RouteTable,
  routeIdOf,
  sortRoutes,
  stillValid,
  type ClientValidationSettings,
  type CacheSettings,
  type CompiledRoute,
  type CompiledRule,
  type MatchResult,
} from './table.ts';
export { normalizeHost, queryParam, type RouteRequest } from './match.ts';
export {
  applyHeaderModifier,
  redirectResponse,
  rewritePath,
  type CompiledHeaderModifier,
  type CompiledPathModifier,
  type CompiledRedirect,
  type CompiledRewrite,
  type HeaderTarget,
  type RedirectRequest,
  type RedirectResponse,
} from './filters.ts';
export {
  NO_BACKEND,
  pickBackend,
  type BackendPick,
  type NoBackend,
  type ResolvedBackendRef,
  type UnresolvedBackendRef,
  type WeightedBackends,
} from './backends.ts';
export { parseDuration } from './duration.ts';
export { routeConflicts, whyRouteWins } from './conflicts.ts';
