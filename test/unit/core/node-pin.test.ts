// The container image must run exactly the Node that CI tests: package-lock.json's `node` package (the
// devDependency the tests run on). src/read-in-place.ts relies on Node internals and is gated on the
// release line it was verified on, so the Dockerfile pins the same version, and test/k8s/images.sh
// builds its local base image (localhost/portico-node-base:<version>) from package-lock.json too.
// This fails when a Node bump updates one and not the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

function lockedNode(): string {
  const lock = JSON.parse(read('package-lock.json')) as {
    packages: Record<string, { version?: string } | undefined>;
  };
  const version = lock.packages['node_modules/node']?.version;
  assert.ok(
    version,
    'package-lock.json has no node_modules/node: the `node` devDependency pins the Node CI tests',
  );
  assert.match(version, /^\d+\.\d+\.\d+$/);
  return version;
}

test("the Dockerfile's NODE_IMAGE is node:<package-lock's node version>-slim", () => {
  const version = lockedNode();
  const dockerfile = read('Dockerfile');
  const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
  assert.equal(
    arg,
    `node:${version}-slim`,
    `Dockerfile: ARG NODE_IMAGE must be node:${version}-slim (package-lock.json's node), not ${arg}`,
  );
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(froms.length > 0);
  for (const from of froms) {
    assert.equal(from, '${NODE_IMAGE}', `every stage is FROM \${NODE_IMAGE}, not ${from}`);
  }
  // The comments name versions too (the images.sh example); a bump must update them as well.
  for (const [mention, mentioned] of dockerfile.matchAll(/(?:node:|portico-node-base:)(\d+\.\d+\.\d+)/g)) {
    assert.equal(
      mentioned,
      version,
      `Dockerfile mentions ${mention}; package-lock.json's node is ${version}`,
    );
  }
});

test('test/k8s/images.sh builds its base from the same Node version', () => {
  const version = lockedNode();
  const cache = mkdtempSync(join(tmpdir(), 'node-pin-'));
  try {
    const out = execFileSync('bash', [join(root, 'test/k8s/images.sh'), 'versions'], {
      encoding: 'utf8',
      env: { ...process.env, PORTICO_K8S_CACHE: cache },
    });
    assert.match(out, new RegExp(`^node \\(package-lock\\)\\s+${version.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(
      out,
      new RegExp(`^base image\\s+localhost/portico-node-base:${version.replaceAll('.', '\\.')}$`, 'm'),
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
