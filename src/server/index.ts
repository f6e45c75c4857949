export { Server } from './server.ts';
export type { ServerOptions } from './server.ts';
export type {
  Service,
  ListeningService,
  BackgroundService,
  ServiceContext,
  MessageChannel,
} from './service.ts';
export { AdminServer, sendJson } from './admin.ts';
export type { AdminHandler } from './admin.ts';
export { availableCores } from './cores.ts';
export { parseListenAddress } from './listen.ts';
