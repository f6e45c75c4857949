import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcStatus, PorticoError, grpcStatusFor } from '../../../src/index.ts';

test('grpcStatusFor: the HTTP status the proxy answers with, as the gRPC status a client reads', () => {
  const connectTimeout = new PorticoError('CONNECT_TIMEOUT', 'x', { source: 'upstream' });
  const readTimeout = new PorticoError('UPSTREAM_TIMEOUT', 'x', { source: 'upstream' });
  const cases: Array<[number, PorticoError | undefined, number]> = [
    [404, undefined, GrpcStatus.UNIMPLEMENTED],
    [502, undefined, GrpcStatus.UNAVAILABLE],
    [503, undefined, GrpcStatus.UNAVAILABLE],
    [429, undefined, GrpcStatus.UNAVAILABLE],
    [504, readTimeout, GrpcStatus.DEADLINE_EXCEEDED],
    [504, connectTimeout, GrpcStatus.UNAVAILABLE],
    [408, undefined, GrpcStatus.DEADLINE_EXCEEDED],
    [401, undefined, GrpcStatus.UNAUTHENTICATED],
    [403, undefined, GrpcStatus.PERMISSION_DENIED],
    [413, undefined, GrpcStatus.RESOURCE_EXHAUSTED],
    [400, undefined, GrpcStatus.INTERNAL],
    [500, undefined, GrpcStatus.INTERNAL],
    [505, connectTimeout, GrpcStatus.INTERNAL],
  ];
  for (const [status, error, expected] of cases) {
    assert.equal(grpcStatusFor(status, error), expected, `${status} ${error?.code ?? ''}`);
  }
});
