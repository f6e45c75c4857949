import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, get, type Origin } from '../helpers/servers.ts';
import { eventually } from '../helpers/process.ts';
import { startPortico, backendYaml, type PorticoProcess } from '../helpers/portico.ts';

/** An origin that says who it is and echoes the path and the headers it got. */
function namedOrigin(name: string, delayMs = 0): Promise<Origin> {
  return startOrigin((req, res) => {
    const reply = (): void => {
      res.setHeader('x-origin', name);
      res.end(JSON.stringify({ origin: name, url: req.url, headers: req.headers }));
    };
    if (delayMs > 0) setTimeout(reply, delayMs).unref();
    else reply();
  });
}

describe('portico serve: Routes and Backends through a real proxy', () => {
  let a: Origin;
  let b: Origin;
  let slow: Origin;
  let portico: PorticoProcess;

  before(async () => {
    [a, b, slow] = await Promise.all([namedOrigin('a'), namedOrigin('b'), namedOrigin('slow', 2_000)]);
    portico = await startPortico({
      'backends.yaml':
        backendYaml('a', [a.address]) + backendYaml('b', [b.address]) + backendYaml('slow', [slow.address]),
      'routes.yaml': `apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: shop }
spec:
  hostnames: [shop.example, "*.shop.example"]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Set, value: s }], add: [{ name: X-Add, value: added }], remove: [X-Remove] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: X-Served-By, value: portico }], remove: [X-Origin] }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 }, hostname: internal.api }
      backendRefs: [{ name: a }]
    - matches: [{ path: { type: Exact, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, path: { type: ReplaceFullPath, replaceFullPath: /new }, statusCode: 308 }
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs: [{ name: a, weight: 80 }, { name: b, weight: 20 }]
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 300ms }
      backendRefs: [{ name: slow }]
    - matches: [{ path: { type: PathPrefix, value: /missing } }]
      backendRefs: [{ name: does-not-exist }]
    - matches: [{ path: { type: PathPrefix, value: / }, headers: [{ name: X-Canary, value: "yes" }] }]
      backendRefs: [{ name: b }]
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: a }]
`,
    });
  });

  after(async () => {
    await portico.stop();
    await Promise.all([a.close(), b.close(), slow.close()]);
  });

  const on = (
    path: string,
    headers: Record<string, string> = {},
    host = 'shop.example',
  ): ReturnType<typeof get> => get(`${portico.url}${path}`, { headers: { host, ...headers } });

  test('request and response header modifiers, and URL rewrite of prefix and hostname', async () => {
    const res = await on('/api/items?q=1', { 'x-add': 'client', 'x-remove': 'gone' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-served-by'], 'portico');
    assert.equal(res.headers['x-origin'], undefined);
    const seen = JSON.parse(res.body.toString()) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/v2/items?q=1');
    assert.equal(seen.headers.host, 'internal.api');
    assert.equal(seen.headers['x-set'], 's');
    assert.equal(seen.headers['x-add'], 'client,added');
    assert.equal(seen.headers['x-remove'], undefined);
    assert.equal(seen.headers['x-forwarded-host'], 'shop.example');
  });

  test('redirect answers locally with the computed Location', async () => {
    const res = await on('/old?x=1', {}, 'shop.example:8080');
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, 'https://shop.example/new?x=1');
  });

  test('wildcard host, header match precedence, and 404 for an unknown host', async () => {
    assert.equal(
      (JSON.parse((await on('/', {}, 'eu.shop.example')).body.toString()) as { origin: string }).origin,
      'a',
    );
    assert.equal(
      (JSON.parse((await on('/', { 'x-canary': 'yes' })).body.toString()) as { origin: string }).origin,
      'b',
    );
    const notFound = await on('/', {}, 'nowhere.example');
    assert.equal(notFound.status, 404);
    assert.match(notFound.body.toString(), /no route/);
  });

  test('weighted backendRefs split traffic by weight', async () => {
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++)
      counts[(JSON.parse((await on('/split')).body.toString()) as { origin: string }).origin]!++;
    assert.ok(counts.b! > 40 && counts.b! < 125, `b got ${counts.b} of 400 (expected ~80)`);
  });

  test('rule timeout → 504; unresolved backendRef → 500', async () => {
    const started = Date.now();
    assert.equal((await on('/slow')).status, 504);
    assert.ok(Date.now() - started < 1_500);
    assert.equal((await on('/missing')).status, 500);
  });

  test('status shows every worker on the current version; explain names the winning rule', async () => {
    const status = JSON.parse(
      (await portico.adminCall('GET', '/api/v1/status', undefined, null)).body.toString(),
    ) as {
      version: number;
      programmed: boolean;
      workers: Record<string, { version: number }>;
    };
    assert.equal(status.programmed, true);
    assert.deepEqual(Object.keys(status.workers).sort(), ['1', '2']);
    for (const w of Object.values(status.workers)) assert.equal(w.version, status.version);
    const explained = JSON.parse(
      (
        await portico.adminCall(
          'POST',
          '/api/v1/explain',
          JSON.stringify({ host: 'x.shop.example', path: '/api/z' }),
          null,
        )
      ).body.toString(),
    ) as { route: string; rule: number };
    assert.deepEqual([explained.route, explained.rule], ['default/shop', 0]);
  });
});

describe('portico serve: configuration changes', () => {
  test('file edits apply without a restart; a syntax error keeps the last good config and names file:line', async () => {
    const origin = await namedOrigin('a');
    const portico = await startPortico({
      'b.yaml': backendYaml('a', [origin.address]),
      'r.yaml': `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: r }\nspec:\n  rules:\n    - matches: [{ path: { type: PathPrefix, value: /one } }]\n      backendRefs: [{ name: a }]\n`,
    });
    try {
      assert.equal((await get(`${portico.url}/one`)).status, 200);
      assert.equal((await get(`${portico.url}/two`)).status, 404);
      portico.write(
        'r.yaml',
        `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: r }\nspec:\n  rules:\n    - matches: [{ path: { type: PathPrefix, value: /two } }]\n      backendRefs: [{ name: a }]\n`,
      );
      await eventually(
        async () => assert.equal((await get(`${portico.url}/two`)).status, 200),
        5_000,
        'edit applied',
      );
      assert.equal((await get(`${portico.url}/one`)).status, 404);
      portico.write(
        'r.yaml',
        `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: r\nspec: [\n`,
      );
      await eventually(
        () => assert.match(portico.child.output(), /r\.yaml:\d+:\d+/),
        5_000,
        'syntax error logged',
      );
      assert.match(portico.child.output(), /keeping the last good configuration/);
      assert.equal((await get(`${portico.url}/two`)).status, 200, 'the last good config still serves');
    } finally {
      await portico.stop();
      await origin.close();
    }
  });

  test('an invalid object is rejected on its own; a bad edit of a good Route keeps its previous version serving', async () => {
    const origin = await namedOrigin('a');
    const route = (name: string, path: string, regex = false): string =>
      `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: ${name} }\nspec:\n  rules:\n    - matches: [{ path: { type: ${regex ? 'RegularExpression' : 'PathPrefix'}, value: "${path}" } }]\n      backendRefs: [{ name: a }]\n---\n`;
    const portico = await startPortico({
      'all.yaml':
        backendYaml('a', [origin.address]) + route('good', '/good') + route('bad', '/(unclosed', true),
    });
    try {
      assert.equal((await get(`${portico.url}/good`)).status, 200);
      const report = JSON.parse(
        (await portico.adminCall('GET', '/api/v1/status', undefined, null)).body.toString(),
      ) as {
        lastChange: { rejected: Array<{ object: string; errors: Array<{ path: string; reason: string }> }> };
      };
      assert.equal(report.lastChange.rejected.length, 1);
      assert.equal(report.lastChange.rejected[0]!.object, 'Route default/bad');
      assert.equal(report.lastChange.rejected[0]!.errors[0]!.reason, 'InvalidRegex');
      assert.equal(report.lastChange.rejected[0]!.errors[0]!.path, 'spec.rules[0].matches[0].path.value');

      const patch = await portico.adminCall('PATCH', '/api/v1/routeset', route('good', '/(broken', true));
      assert.equal(patch.status, 422);
      const body = JSON.parse(patch.body.toString()) as {
        rejected: Array<{ object: string; servingPrevious: boolean }>;
      };
      assert.deepEqual(
        new Map(body.rejected.map((r) => [r.object, r.servingPrevious])),
        new Map([
          ['Route default/good', true],
          ['Route default/bad', false],
        ]),
      );
      assert.equal((await get(`${portico.url}/good`)).status, 200, 'previous version of good still serves');
    } finally {
      await portico.stop();
      await origin.close();
    }
  });

  test('admin API writes need the bearer token: none → 401, wrong → 403, right → 200 and applied when it answers', async () => {
    const origin = await namedOrigin('a');
    const portico = await startPortico({ 'b.yaml': backendYaml('a', [origin.address]) });
    const doc = `apiVersion: portico.dev/v1alpha1\nkind: Route\nmetadata: { name: api }\nspec:\n  rules:\n    - backendRefs: [{ name: a }]\n`;
    try {
      assert.equal((await portico.adminCall('PATCH', '/api/v1/routeset', doc, null)).status, 401);
      assert.equal(
        (await portico.adminCall('PATCH', '/api/v1/routeset', doc, 'wrong-token-000000000')).status,
        403,
      );
      assert.equal((await get(`${portico.url}/x`)).status, 404);
      const ok = await portico.adminCall('PATCH', '/api/v1/routeset', doc);
      assert.equal(ok.status, 200, ok.body.toString());
      assert.equal((JSON.parse(ok.body.toString()) as { programmed: boolean }).programmed, true);
      assert.equal((await get(`${portico.url}/x`)).status, 200, 'served as soon as the API answered');
      const bad = await portico.adminCall('PUT', '/api/v1/routeset', 'kind: [unclosed');
      assert.equal(bad.status, 400);
      assert.match(bad.body.toString(), /request body:1:/);
      assert.equal((await get(`${portico.url}/x`)).status, 200, 'a bad body changes nothing');
    } finally {
      await portico.stop();
      await origin.close();
    }
  });
});
