import { gatewayServer } from './data-plane.ts';
import type { Server } from '../server/index.ts';
import type { ServeSettings } from './options.ts';

/** `portico serve`: the gateway over Routes and Backends read from files. */
export async function serve(settings: ServeSettings): Promise<Server> {
  const { server, logger } = gatewayServer(settings);
  if (server.isPrimaryProcess) (await import('./file-config.ts')).addFileConfig(server, settings, logger);
  await server.run();
  return server;
}
