/**
 * Portico's HTTP cache (RFC 9111, shared cache), transport-independent. The proxy drives it per
 * request:
 *
 * 1. `invalidate(request, response)` after every response to an unsafe method.
 * 2. `lookup(request)`:
 *    - `hit` → send `respond(entry, request)` with `cacheStatus({ hit: true, ttl })`; `respond`
 *      answers a matching client conditional with 304 and a Range with 206 from the stored 200.
 *    - `stale` → the same; if `revalidateInBackground`, refresh it (steps 3–5) off the request path.
 *    - `miss` with `onlyIfCached` → 504 without forwarding.
 *    - `miss` / `revalidate` → step 3.
 * 3. `lock.acquire(result.key)`. A reader awaits `wait()`: on `ready` it looks up again; on anything
 *    else it forwards on its own (without the lock). The writer forwards, adding
 *    `conditionalHeaders` when revalidating, and must `release(...)` on every path.
 * 4. Upstream answered:
 *    - 304 to a revalidation → `freshen(...)`; serve its entry; `release('ready')`.
 *    - error or 5xx while revalidating and `staleIfError(entry)` → serve the stale entry.
 *    - otherwise `storability(request, head)`; if storable, buffer with `bodyCollector(head)`
 *      while streaming downstream, then `store(...)` the finished body. Release `ready` when
 *      stored, `uncacheable` when not, `failed` when the fetch failed.
 */
export { BodyCollector, type CollectState } from './body.ts';
export {
  parseAge,
  parseDate,
  parseExpires,
  parseHttpDate,
  parseRequestCacheControl,
  parseResponseCacheControl,
  type RequestDirectives,
  type ResponseDirectives,
} from './cache-control.ts';
export { formatCacheStatus, type CacheStatusParams, type ForwardReason } from './cache-status.ts';
export type { CacheEntry } from './entry.ts';
export {
  HttpCache,
  type CachedResponse,
  type CacheOutcome,
  type ExchangeTimes,
  type HttpCacheOptions,
  type HttpCacheStats,
  type LookupResult,
  type StoreOptions,
  type StoreResult,
} from './http-cache.ts';
export type { UrlParts } from './invalidation.ts';
export { defaultCacheKey, type CacheKeyFn } from './key.ts';
export {
  CacheLock,
  DEFAULT_LOCK_TIMEOUT_MS,
  type CacheLockHooks,
  type CacheLockOptions,
  type CacheLockStats,
  type LockHandle,
  type LockOutcome,
  type ReaderLock,
  type WaitResult,
  type WriterLock,
} from './lock.ts';
export type { NotStorableReason, RevalidateReason, StorableVerdict } from './policy.ts';
export type { RangeOutcome } from './range.ts';
export { conditionalHeaders } from './revalidation.ts';
export type { HeaderMap, RequestInfo, ResponseHead, StoredResponse } from './types.ts';
