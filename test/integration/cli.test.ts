// The offline commands as a user runs them: real child processes of `portico` over real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const EXAMPLES = new URL('../../examples/config', import.meta.url).pathname;

function portico(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
    );
  });
}

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'portico-cli-')), 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

test('validate: the examples pass; a bad field names file, line, object and path; bad YAML exits 2', async () => {
  const good = await portico('validate', '-f', EXAMPLES);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /Route\(s\) and 1 Backend\(s\) valid; 0 rejected/);
  const bad = await portico(
    'validate',
    '-f',
    configFile(
      'apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: shop }\nspec:\n  rules: [{ timeouts: { request: soon } }]\n',
    ),
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /config\.yaml:1 Route default\/shop: spec\.rules\[0\]\.timeouts\.request: /);
  const broken = await portico('validate', '-f', configFile('kind: [\n'));
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /config\.yaml:2:1: .*\(InvalidYAML\)/);
});

test('explain: the winning route, rule and backend for a request, as JSON', async () => {
  const out = await portico('explain', '-f', EXAMPLES, '--host', 'localhost', '--path', '/hello');
  assert.equal(out.code, 0, out.stderr);
  const explained = JSON.parse(out.stdout) as {
    matched: boolean;
    route: string;
    backends: { backend: string }[];
  };
  assert.equal(explained.matched, true);
  assert.equal(explained.route, 'default/echo');
  assert.equal(explained.backends[0]?.backend, 'default/echo');
  const unmatched = JSON.parse(
    (await portico('explain', '-f', EXAMPLES, '--host', 'x', '--path', '*')).stdout,
  ) as { matched: boolean; reason: string };
  assert.equal(
    unmatched.matched,
    false,
    'a path no Route matches (the catch-all Route takes absolute paths)',
  );
  assert.match(unmatched.reason, /answers 404/);
});

test('crds: prints the generated CRD of the kind asked for', async () => {
  const out = await portico('crds', 'Backend');
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /kind: CustomResourceDefinition/);
  assert.match(out.stdout, /name: backends\.portico\.dev/);
  assert.doesNotMatch(out.stdout, /name: routes\.portico\.dev/);
});
