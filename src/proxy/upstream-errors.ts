import { PorticoError } from '../errors.ts';

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

/**
 * Turns an undici or socket error into a PorticoError. `beforeResponse` is true when no response byte had
 * arrived, which is when a reset is safe to retry for an idempotent request.
 */
export function classifyUpstreamError(
  error: unknown,
  peerName: string,
  beforeResponse: boolean,
): PorticoError {
  if (error instanceof PorticoError) return error;
  const err = error as NodeJS.ErrnoException & { code?: string };
  const code = err?.code ?? '';
  const detail = `${peerName}: ${err?.message ?? String(error)}`;
  const upstream = (
    kind: ConstructorParameters<typeof PorticoError>[0],
    retryable: boolean,
    what: string,
  ): PorticoError =>
    new PorticoError(kind, `${what} (${detail})`, { source: 'upstream', retryable, cause: error });
  switch (code) {
    case 'ECONNREFUSED':
      return upstream('CONNECT_REFUSED', true, 'upstream refused the connection');
    case 'UND_ERR_CONNECT_TIMEOUT':
      return upstream('CONNECT_TIMEOUT', true, 'connecting to the upstream timed out');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOENT':
      return upstream('CONNECT_REFUSED', true, 'upstream address cannot be reached');
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return upstream('UPSTREAM_TIMEOUT', false, 'upstream did not answer in time');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return upstream('CONNECTION_RESET', beforeResponse, 'upstream closed the connection');
  }
  if (TLS_CODE.test(code)) return upstream('TLS_FAILURE', false, 'TLS handshake with the upstream failed');
  if (code.startsWith('UND_ERR_RES') || code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_')) {
    return upstream('UPSTREAM_PROTOCOL', false, 'upstream sent an invalid response');
  }
  return upstream('UPSTREAM_ERROR', false, 'upstream request failed');
}

/** The status a failed request answers with, unless `failToProxy` says otherwise. */
export function defaultErrorStatus(error: PorticoError): number {
  switch (error.code) {
    case 'UPSTREAM_TIMEOUT':
    case 'CONNECT_TIMEOUT':
      return 504;
    case 'NOT_FOUND':
      return 404;
    case 'REQUEST_TOO_LARGE':
      return 413;
    case 'DOWNSTREAM_TIMEOUT':
      return 408;
  }
  switch (error.source) {
    case 'upstream':
      return 502;
    case 'downstream':
      return 400;
    default:
      return 500;
  }
}
