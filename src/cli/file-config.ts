/**
 * The primary's half of `portico serve`: files into a ConfigStore, the admin API over it. Workers
 * never load this module (nor YAML, validation and the store it brings).
 */
import { ConfigError } from '../errors.ts';
import { loadDocuments, FileWatcher } from '../config/file-source.ts';
import { ConfigStore, registerAdminApi } from '../gateway/index.ts';
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

/** Adds the file source, the readiness gate and the admin API to the primary of `server`. */
export function addFileConfig(server: Server, settings: ServeSettings, logger: Logger): void {
  const store = new ConfigStore(server, logger);
  server.addService(new FileConfigService(settings.files, store, logger));
  server.addService(store.certificateExpiryMetrics());
  server.addReadinessGate('routing table programmed in every worker', () => store.isProgrammed());
  if (server.admin !== undefined)
    registerAdminApi(server.admin, store, { token: settings.adminToken, cacheChannel: server });
}
