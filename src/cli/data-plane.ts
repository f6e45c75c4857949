import { GatewayCacheService, GatewayProxy, TableHolder, TableService } from '../gateway/index.ts';
import { httpProxyService, type HttpProxyService } from '../proxy/index.ts';
import type { Server } from '../server/index.ts';

/**
 * The gateway's data plane, the same for `serve` and `controller`: in every worker a table service
 * (compile, swap, ack), the per-worker cache service (metrics, purges) and the proxy listener.
 */
export function addGatewayDataPlane(
  server: Server,
  settings: { listen: string[]; accessLog: boolean },
): HttpProxyService<unknown> {
  const holder = new TableHolder();
  const gateway = new GatewayProxy(holder);
  server.addService(new TableService(holder, server));
  server.addService(new GatewayCacheService(gateway, server));
  const service = httpProxyService(gateway, {
    name: 'gateway',
    listen: settings.listen,
    accessLog: settings.accessLog,
  });
  server.addService(service);
  return service;
}
