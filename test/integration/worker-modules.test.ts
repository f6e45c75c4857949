// A worker runs the data plane only. The primary alone validates (TypeBox), parses YAML, holds the
// ConfigStore and, in `controller`, the Kubernetes client: each costs a worker megabytes of RSS at
// idle (docs/architecture.md), and one stray import through a barrel file would bring them all back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendYaml, startPortico } from '../helpers/portico.ts';

const REGISTER = new URL('../helpers/module-log/register.ts', import.meta.url).pathname;
const PRIMARY_ONLY = [
  '@sinclair/typebox',
  '/yaml/',
  '@kubernetes/client-node',
  'config-store',
  'validate',
  'file-source',
];

test('a worker of portico serve loads no validation, YAML, config store or Kubernetes client', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-modules-'));
  const portico = await startPortico(
    {
      'config.yaml': `${backendYaml('web', ['127.0.0.1:9'])}apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: web }
spec:
  rules: [{ backendRefs: [{ name: web }] }]
`,
    },
    { workers: 1, env: { NODE_OPTIONS: `--import=${REGISTER}`, PORTICO_MODULE_LOG_DIR: dir } },
  );
  try {
    const worker = readFileSync(join(dir, '1.txt'), 'utf8').split('\n');
    const primary = readFileSync(join(dir, 'primary.txt'), 'utf8').split('\n');
    assert.ok(
      worker.some((url) => url.includes('/gateway/gateway-proxy.ts')),
      'the log covers the worker',
    );
    assert.ok(
      primary.some((url) => url.includes('@sinclair/typebox')),
      'the primary does validate',
    );
    for (const name of PRIMARY_ONLY) {
      assert.deepEqual(
        worker.filter((url) => url.includes(name)),
        [],
        `the worker loaded ${name}`,
      );
    }
  } finally {
    await portico.stop();
  }
});
