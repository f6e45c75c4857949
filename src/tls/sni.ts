import type { Server as TlsServer, TLSSocket, SecureContext } from 'node:tls';
import { SERVER_TLS_DEFAULTS, type CertificateEntry, type CertificateStore } from './store.ts';

/** node's TLSSocket internals this module sets per handshake; see `applyClientValidation`. */
interface TlsSocketInternals {
  _handle: { setVerifyMode(requestCert: boolean, rejectUnauthorized: boolean): void } | null;
  _requestCert: boolean;
  _rejectUnauthorized: boolean;
}

const kEntry = Symbol('portico.tls.entry');
type TaggedSocket = TLSSocket & { [kEntry]?: CertificateEntry };

/** The certificate entry a downstream TLS connection negotiated (by SNI, or the default). */
export function negotiatedEntry(socket: TLSSocket): CertificateEntry | undefined {
  return (socket as TaggedSocket)[kEntry];
}

/** What a TLS server needs to serve a changing {@link CertificateStore}; see {@link serveCertificates}. */
export interface CertificateServing {
  /** For the server's options: picks the entry by SNI on every handshake. */
  readonly SNICallback: (
    servername: string,
    callback: (error: Error | null, context?: SecureContext) => void,
  ) => void;
  /** Keeps the server's own context (used without SNI) equal to the store's default entry. */
  attach(server: TlsServer): void;
}

/**
 * Serves `certificates()` on a TLS server: SNI picks an entry per handshake (so a new store takes effect
 * on the next handshake while open connections keep theirs), and client-certificate validation is
 * switched on or off per entry. Clients without SNI get the store's default entry.
 */
export function serveCertificates(
  certificates: () => CertificateStore | undefined,
  ticketKeys: Buffer,
): CertificateServing {
  return {
    SNICallback(this: unknown, servername, callback) {
      // node calls the SNICallback as a method of the TLSSocket being negotiated.
      const socket = this as TaggedSocket;
      const entry = certificates()?.lookup(servername);
      if (entry === undefined) return callback(null, undefined);
      socket[kEntry] = entry;
      applyClientValidation(socket, entry);
      callback(null, entry.context);
    },
    attach(server) {
      let defaultEntry: CertificateEntry | undefined;
      const empty = process
        .getBuiltinModule('node:tls')
        .createSecureContext({ ...SERVER_TLS_DEFAULTS, ticketKeys });
      // Runs before node's own 'connection' listener wraps the socket in the server's context.
      server.prependListener('connection', () => {
        const entry = certificates()?.default;
        if (entry === defaultEntry) return;
        defaultEntry = entry;
        // Without SNI the SNICallback never runs and node uses the server's own context, which it
        // keeps in `_sharedCreds`; setSecureContext() would re-parse PEM we already hold as a context.
        (server as unknown as { _sharedCreds: SecureContext })._sharedCreds = entry?.context ?? empty;
        const validation = entry?.clientValidation;
        // Read by node when it wraps each new connection; public options, but not in node's types.
        const options = server as unknown as { requestCert: boolean; rejectUnauthorized: boolean };
        options.requestCert = validation !== undefined;
        options.rejectUnauthorized = validation?.mode === 'Require';
      });
      server.on('secureConnection', (socket: TaggedSocket) => {
        socket[kEntry] ??= defaultEntry;
      });
    },
  };
}

/**
 * Client-certificate requests are a per-connection setting in node (`requestCert` on the server), but
 * here they belong to the entry SNI picked, so the verify mode is set on the connection during the SNI
 * callback — before OpenSSL decides whether to send a CertificateRequest.
 */
function applyClientValidation(socket: TLSSocket, entry: CertificateEntry): void {
  const internals = socket as unknown as TlsSocketInternals;
  const validation = entry.clientValidation;
  const request = validation !== undefined;
  const reject = validation?.mode === 'Require';
  internals._requestCert = request;
  internals._rejectUnauthorized = reject;
  internals._handle?.setVerifyMode(request, reject);
}
