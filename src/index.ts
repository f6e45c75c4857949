/**
 * Portico's framework API: build a proxy by implementing ProxyHttp and running it on a Server.
 */
export { Server, availableCores } from './server/index.ts';
export type {
  ServerOptions,
  Service,
  ListeningService,
  BackgroundService,
  ServiceContext,
} from './server/index.ts';
export {
  httpProxyService,
  Session,
  HeaderList,
  ResponseHeader,
  GrpcStatus,
  grpcStatusFor,
  respondError,
} from './proxy/index.ts';
export type {
  ProxyHttp,
  MaybePromise,
  RequestFilterResult,
  ConnectFailureDecision,
  ResponseRetryDecision,
  UpstreamRequest,
  HttpProxyServiceOptions,
  TlsListenOptions,
  DownstreamLimits,
  CacheSettings,
  CacheHitDecision,
  ResponseCacheDecision,
} from './proxy/index.ts';
export {
  CertificateStore,
  CertificateEntryCache,
  checkServerCertificate,
  sharedTicketKeys,
  formatForwardedClientCertificate,
} from './tls/index.ts';
export type {
  CertificateEntry,
  CertificateSpec,
  ClientValidation,
  ClientCertificateInfo,
  PemKeyPair,
} from './tls/index.ts';
export { HttpCache, defaultCacheKey } from './cache/index.ts';
export type { HttpCacheOptions, HttpCacheStats, CacheEntry } from './cache/index.ts';
export { HttpPeer, loadClientCertificate, clientCertificateFromPem } from './upstream/index.ts';
export type { HttpPeerOptions, PeerTimeouts, ClientCertificate } from './upstream/index.ts';
export { PorticoError, InvalidArgumentError, ConfigError } from './errors.ts';
export type { ErrorCode, ErrorSource, FieldError } from './errors.ts';
export { createLogger } from './observability/index.ts';
