export { checkServerCertificate, checkCaBundle } from './certificates.ts';
export type { PemKeyPair } from './certificates.ts';
export { CertificateStore, CertificateEntryCache, SERVER_TLS_DEFAULTS } from './store.ts';
export type { CertificateEntry, CertificateExpiry, CertificateSpec, ClientValidation } from './store.ts';
export { clientCertificateOf, formatForwardedClientCertificate } from './client-certificate.ts';
export type { ClientCertificateInfo } from './client-certificate.ts';
export { serveCertificates, negotiatedEntry } from './sni.ts';
export type { CertificateServing } from './sni.ts';
export { sharedTicketKeys } from './ticket-keys.ts';
