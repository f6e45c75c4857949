/**
 * Pingora's load-balancer example, in Portico: round robin over two upstreams, and when one refuses a
 * connection, retry on the other. Run: `node examples/load-balancer.ts 127.0.0.1:9001 127.0.0.1:9002`
 * then `curl http://127.0.0.1:6188/`.
 */
import { HttpPeer, Server, httpProxyService, type ProxyHttp, type Session } from '../src/index.ts';

interface Ctx {
  tries: number;
}

class LoadBalancer implements ProxyHttp<Ctx> {
  readonly #peers: HttpPeer[];
  #next = 0;

  constructor(addresses: string[]) {
    this.#peers = addresses.map((address) => new HttpPeer({ address }));
  }

  newCtx(): Ctx {
    return { tries: 0 };
  }

  upstreamPeer(session: Session, ctx: Ctx): HttpPeer {
    ctx.tries++;
    // Skip peers that already failed this request.
    for (let i = 0; i < this.#peers.length; i++) {
      const peer = this.#peers[this.#next++ % this.#peers.length]!;
      if (!session.triedPeers.includes(peer)) return peer;
    }
    return this.#peers[0]!;
  }

  failToConnect(): 'retry' | 'fail' {
    return 'retry';
  }
}

const upstreams = process.argv.slice(2);
const server = new Server({ workers: Number(process.env.WORKERS ?? 'NaN') || 'auto' });
server.addService(
  httpProxyService(
    new LoadBalancer(upstreams.length > 0 ? upstreams : ['127.0.0.1:9001', '127.0.0.1:9002']),
    {
      listen: ['127.0.0.1:6188'],
      maxAttempts: 2,
    },
  ),
);
await server.run();
