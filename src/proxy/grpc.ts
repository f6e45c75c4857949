import type { PorticoError } from '../errors.ts';
import type { Session } from './session.ts';

/** The gRPC status codes the proxy answers with (gRPC's `doc/statuscodes.md`). */
export const GrpcStatus = Object.freeze({
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
});

/** gRPC and gRPC-Web: `application/grpc`, `application/grpc+proto`, `application/grpc-web+json`, ... */
const GRPC_CONTENT_TYPE = /^application\/grpc/i;

/** `grpc-message` is percent-encoded UTF-8: anything but printable ASCII, and `%` itself, is escaped. */
const GRPC_MESSAGE_SAFE = /^[\x20-\x24\x26-\x7e]*$/;

function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && GRPC_CONTENT_TYPE.test(contentType);
}

/**
 * The gRPC status for an HTTP status the proxy answers with itself. It follows the gRPC HTTP/2
 * protocol's HTTP-to-gRPC mapping, with three refinements for answers whose cause the proxy knows: its
 * own timeouts (504, 408) are DEADLINE_EXCEEDED rather than UNAVAILABLE, except a connect timeout,
 * which never reached the service and so is UNAVAILABLE, the status clients may retry; 413 is
 * RESOURCE_EXHAUSTED, as a gRPC server says of a message over its limit; and anything unlisted is
 * INTERNAL rather than UNKNOWN, since the proxy did fail.
 */
export function grpcStatusFor(httpStatus: number, error?: PorticoError): number {
  switch (httpStatus) {
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return error?.code === 'CONNECT_TIMEOUT' ? GrpcStatus.UNAVAILABLE : GrpcStatus.DEADLINE_EXCEEDED;
    case 413:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 429:
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/**
 * Answers a request the proxy fails or refuses itself (no route, no backend, upstream down, timeout):
 * `status` with a one-line text body. A gRPC client reads neither: it wants HTTP 200 and a
 * `grpc-status`, so a gRPC request gets a Trailers-Only response instead — 200, its own content-type,
 * `grpc-status` from {@link grpcStatusFor} (which `error`, the failure if there is one, refines) and
 * `message` as `grpc-message`, and no body. `session.status` records what went on the wire: 200.
 */
export function respondError(session: Session, status: number, message: string, error?: PorticoError): void {
  const contentType = session.header('content-type');
  if (!isGrpc(contentType)) return session.respond(status, `${status} ${message}\n`);
  const res = session.response;
  res.statusCode = 200;
  res.setHeader('content-type', contentType!);
  res.setHeader('grpc-status', String(grpcStatusFor(status, error)));
  res.setHeader('grpc-message', encodeGrpcMessage(message));
  session.status = 200;
  // No body, not even an empty one: only then does node send HTTP/2 headers with END_STREAM, the one
  // frame a gRPC client reads a Trailers-Only status from.
  res.end();
}

function encodeGrpcMessage(message: string): string {
  if (GRPC_MESSAGE_SAFE.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
