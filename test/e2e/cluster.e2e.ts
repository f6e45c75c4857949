/**
 * The e2e suite against an existing cluster where Portico already runs (kind.sh, or your own):
 *
 *   KUBECONFIG=~/.kube/config PORTICO_E2E_PROXY=http://127.0.0.1:18080 PORTICO_E2E_ORIGIN=kind \
 *     node --test test/e2e/cluster.e2e.ts
 *
 * KUBECONFIG (or kubectl's default), KUBECTL (default: kubectl on PATH), PORTICO_E2E_PROXY (required:
 * where Portico's HTTP listener is reachable from here), PORTICO_E2E_ORIGIN (local | kind; local only
 * works when the proxy runs on this machine), PORTICO_E2E_ECHO_IMAGE (kind: image with Node >= 24),
 * PORTICO_E2E_TIMEOUT_MS (per wait, default 30000). Named *.e2e.ts so `test/e2e/*.test.ts` skips it.
 */
import { kubectlFor } from './cluster.ts';
import { originsFromEnv } from './origins.ts';
import { e2eSuite } from './suite.ts';

const proxy = process.env['PORTICO_E2E_PROXY'];
if (proxy === undefined || proxy === '') throw new Error('set PORTICO_E2E_PROXY, e.g. http://127.0.0.1:8080');

e2eSuite(`portico e2e (${proxy}, origins: ${process.env['PORTICO_E2E_ORIGIN'] ?? 'local'})`, {
  setup: () => Promise.resolve({ kubectl: kubectlFor(), proxy, origins: originsFromEnv() }),
});
