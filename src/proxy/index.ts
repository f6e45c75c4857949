export type {
  ProxyHttp,
  MaybePromise,
  RequestFilterResult,
  ConnectFailureDecision,
  ResponseRetryDecision,
  UpstreamRequest,
  CacheSettings,
  CacheHitDecision,
  ResponseCacheDecision,
} from './proxy-http.ts';
export { Session } from './session.ts';
export { HeaderList, ResponseHeader, forwardRequestHeaders } from './headers.ts';
export { stripResponseHopByHop } from '../http.ts';
export { ProxyEngine } from './engine.ts';
export { GrpcStatus, grpcStatusFor, respondError } from './grpc.ts';
export type { ProxyEngineOptions } from './engine.ts';
export { httpProxyService, HttpProxyService } from './service.ts';
export type { HttpProxyServiceOptions, DownstreamLimits, TlsListenOptions } from './service.ts';
