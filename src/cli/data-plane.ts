// Module by module, not the gateway barrel: a worker loads this, and the barrel brings the primary's
// ConfigStore, validation (TypeBox) and YAML along.
import { GatewayCacheService, GatewayProxy, TableHolder } from '../gateway/gateway-proxy.ts';
import { TableService } from '../gateway/table-service.ts';
import { httpProxyService, type HttpProxyService } from '../proxy/index.ts';
import { createLogger, type Logger } from '../observability/index.ts';
import { Server } from '../server/index.ts';

/**
 * The gateway's data plane, the same for `serve` and `controller`: in every worker a table service
 * (compile, swap, ack), the per-worker cache service (metrics, purges) and the proxy listener.
 */
export function addGatewayDataPlane(
  server: Server,
  settings: { listen: string[]; tlsListen: string[]; h2c: boolean; accessLog: boolean },
): HttpProxyService<unknown> {
  const holder = new TableHolder();
  const gateway = new GatewayProxy(holder);
  server.addService(new TableService(holder, server));
  server.addService(new GatewayCacheService(gateway, server));
  const service = httpProxyService(gateway, {
    name: 'gateway',
    listen: settings.listen,
    tls:
      settings.tlsListen.length === 0
        ? undefined
        : { listen: settings.tlsListen, certificates: holder.certificates },
    h2c: settings.h2c,
    accessLog: settings.accessLog,
  });
  server.addService(service);
  return service;
}

/** What `serve` and `controller` share: process layout, admin listener, drain time, logging, listeners. */
export interface GatewayServerSettings {
  workers: number | 'auto';
  admin: string | false;
  gracePeriodMs: number;
  handoverWaitMs: number;
  readinessFile: string | undefined;
  logLevel: string;
  listen: string[];
  tlsListen: string[];
  h2c: boolean;
  accessLog: boolean;
}

/** A Server with the gateway's data plane added; the caller adds its configuration source. */
export function gatewayServer(settings: GatewayServerSettings): {
  server: Server;
  logger: Logger;
  gateway: HttpProxyService<unknown>;
} {
  const logger = createLogger({ level: settings.logLevel });
  const server = new Server({
    workers: settings.workers,
    admin: settings.admin,
    gracePeriodMs: settings.gracePeriodMs,
    handoverWaitMs: settings.handoverWaitMs,
    ...(settings.readinessFile === undefined ? {} : { readinessFile: settings.readinessFile }),
    logger,
  });
  return { server, logger, gateway: addGatewayDataPlane(server, settings) };
}
