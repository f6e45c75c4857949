import { ConfigError } from '../errors.ts';
import { loadDocuments, FileWatcher } from '../config/file-source.ts';
import { ConfigStore, registerAdminApi } from '../gateway/index.ts';
import { gatewayServer } from './data-plane.ts';
import type { Logger } from '../observability/index.ts';
import type { BackgroundService, Server } from '../server/index.ts';
import type { ServeSettings } from './options.ts';

/** Loads config files into the store at start, then again on every edit; a bad edit keeps the last good. */
class FileConfigService implements BackgroundService {
  readonly kind = 'background';
  readonly name = 'file-config';
  readonly runsIn = 'primary';
  readonly #paths: string[];
  readonly #store: ConfigStore;
  readonly #logger: Logger;
  #watcher: FileWatcher | undefined;

  constructor(paths: string[], store: ConfigStore, logger: Logger) {
    this.#paths = paths;
    this.#store = store;
    this.#logger = logger;
  }

  async start(): Promise<void> {
    await this.#store.replace(await loadDocuments(this.#paths));
    this.#watcher = new FileWatcher(this.#paths, () => void this.#reload());
  }

  async #reload(): Promise<void> {
    try {
      const report = await this.#store.replace(await loadDocuments(this.#paths));
      this.#logger.info({ version: report.version, files: this.#paths }, 'configuration files reloaded');
    } catch (error) {
      const errors =
        error instanceof ConfigError
          ? error.errors
          : [{ object: this.#paths.join(','), path: '', message: String(error), reason: 'Unreadable' }];
      for (const e of errors)
        this.#logger.error(
          { at: e.object, reason: e.reason },
          `${e.message}; keeping the last good configuration`,
        );
    }
  }

  stop(): Promise<void> {
    this.#watcher?.close();
    return Promise.resolve();
  }
}

/** `portico serve`: the gateway over Routes and Backends read from files. */
export async function serve(settings: ServeSettings): Promise<Server> {
  const { server, logger } = gatewayServer(settings);
  if (server.isPrimaryProcess) {
    const store = new ConfigStore(server, logger);
    server.addService(new FileConfigService(settings.files, store, logger));
    server.addReadinessGate('routing table programmed in every worker', () => store.isProgrammed());
    if (server.admin !== undefined)
      registerAdminApi(server.admin, store, { token: settings.adminToken, cacheChannel: server });
  }
  await server.run();
  return server;
}
