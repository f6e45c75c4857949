// A ConfigStore with no workers, recording what it broadcasts to them: the wire sets workers compile.
import { ConfigStore } from '../../../src/gateway/index.ts';
import type { WireRouteSet } from '../../../src/gateway/route-set.ts';
import { createLogger } from '../../../src/observability/index.ts';

export function storeWithBroadcasts(): { store: ConfigStore; sent: WireRouteSet[] } {
  const sent: WireRouteSet[] = [];
  const channel = {
    workers: 0,
    broadcast: (topic: string, body: unknown) =>
      void (topic === 'routeset' && sent.push(body as WireRouteSet)),
    onMessage: () => undefined,
  };
  return { store: new ConfigStore(channel, createLogger({ level: 'silent', sync: true })), sent };
}
