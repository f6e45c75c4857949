import { connect as netConnect, type NetConnectOpts, type Socket } from 'node:net';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { PorticoError } from '../errors.ts';
import type { HttpPeer } from './peer.ts';

/**
 * A peer's TLS settings as `tls.connect` takes them. undici hands its `connect` options to
 * `tls.connect` too, so a pooled connection and one opened by {@link connectPeer} present the same SNI,
 * CA and client certificate, and verify the same name.
 */
export function peerTlsOptions(peer: HttpPeer): ConnectionOptions {
  const options: ConnectionOptions = {
    servername: peer.sni ?? (isIp(peer.hostname) ? undefined : peer.hostname),
    rejectUnauthorized: peer.verify,
  };
  if (peer.ca !== undefined) options.ca = peer.ca;
  if (peer.clientCertificate !== undefined) {
    options.cert = peer.clientCertificate.cert;
    options.key = peer.clientCertificate.key;
  }
  // Verify the name we asked for (the SNI), not the dialled address, so a local forwarder works.
  if (peer.sni !== undefined && peer.verify) options.checkServerIdentity = checkSni(peer.sni);
  return options;
}

/**
 * net's `onread`: reads go into `buffer()`'s memory and straight to `callback`, not through a Readable.
 * `buffer` is called once before the first read and after every read (undefined keeps the last one).
 * Used for plaintext sockets only: node:tls reads as a Readable whatever is given.
 */
export interface OnReadOptions {
  buffer: () => Buffer | undefined;
  callback: (bytesRead: number, buffer: Buffer) => void;
}

/**
 * Opens an HTTP/1.1 connection to a peer: H1Pool's connections, and those an HTTP upgrade turns into a
 * tunnel. TLS offers only HTTP/1.1 by ALPN, whatever the peer's `alpn` (HTTP/2 peers go through
 * undici), and resumes `session` when given one. The socket is destroyed with `CONNECT_TIMEOUT` when
 * TCP and TLS take longer than `timeouts.connect`.
 */
export function connectPeer(peer: HttpPeer, session?: Buffer, onread?: OnReadOptions): Socket {
  const address =
    peer.socketPath !== undefined ? { path: peer.socketPath } : { host: peer.hostname!, port: peer.port! };
  const socket = peer.tls
    ? // node:tls loads with the first TLS peer, not at import (a plaintext worker never needs it).
      process
        .getBuiltinModule('node:tls')
        .connect({ ...address, ...peerTlsOptions(peer), ALPNProtocols: ['http/1.1'], session })
    : netConnect({ ...address, onread } as NetConnectOpts);
  // Requests and tunnelled frames (WebSocket messages) are small: Nagle's algorithm would hold them back.
  socket.setNoDelay(true);
  const timeoutMs = peer.timeouts.connect;
  if (timeoutMs > 0) {
    const timer = setTimeout(() => {
      socket.destroy(
        new PorticoError('CONNECT_TIMEOUT', `connecting to ${peer.toString()} took over ${timeoutMs} ms`, {
          source: 'upstream',
          retryable: true,
        }),
      );
    }, timeoutMs);
    const ready = (): void => clearTimeout(timer);
    socket.once(peer.tls ? 'secureConnect' : 'connect', ready);
    socket.once('close', ready);
  }
  return socket;
}

function isIp(host: string | undefined): boolean {
  return host !== undefined && (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':'));
}

function checkSni(sni: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const { checkServerIdentity } = process.getBuiltinModule('node:tls');
  return (_dialled, cert) => checkServerIdentity(sni, cert);
}
