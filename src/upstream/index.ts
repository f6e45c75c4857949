export { HttpPeer, loadClientCertificate, clientCertificateFromPem } from './peer.ts';
export type { HttpPeerOptions, PeerTimeouts, ClientCertificate, Alpn } from './peer.ts';
export { PeerPools } from './pools.ts';
export { connectPeer, peerTlsOptions } from './connect.ts';
export type { PeerPoolsOptions, PoolCounters } from './pools.ts';
