/**
 * The cluster-agnostic end-to-end suite: given a kubectl (kubeconfig), the proxy's address and a way to
 * run origins, it drives Portico only through the Kubernetes API and HTTP, as a user would:
 *
 *   apply Backend + Route → traffic answered; change path / header match / header filter → traffic
 *   follows; invalid Route → Accepted=False with a reason while valid Routes keep serving; missing
 *   Backend → ResolvedRefs=False; delete → 404; conditions via `kubectl get -o jsonpath`; the printer
 *   columns of `kubectl get routes` / `kubectl get backends`.
 *
 * Everything lives in a namespace of its own (`portico-e2e-<random>`) and hostnames under it, so runs
 * never collide on a shared cluster. Waits poll observable state against a deadline; nothing sleeps.
 * Entries: local.test.ts (local control plane + `portico controller` child) and cluster.e2e.ts (any
 * cluster: KUBECONFIG, PORTICO_E2E_PROXY, PORTICO_E2E_ORIGIN).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { apply, proxyGet, until, type Kubectl, type ProxyResponse } from './cluster.ts';
import type { Echo } from './echo-server.ts';
import type { Origins } from './origins.ts';

export interface E2eTarget {
  kubectl: Kubectl;
  /** The proxy's base URL, e.g. http://127.0.0.1:8080. */
  proxy: string;
  origins: Origins;
}

export interface E2eHooks {
  /** Brings the target up (or just describes an existing one). */
  setup(): Promise<E2eTarget>;
  /** Runs after the suite, also when setup or a test failed; gets what setup returned, if anything. */
  teardown?(target: E2eTarget | undefined): Promise<void>;
  /** Extra diagnostics to print when a test fails (e.g. the controller's log tail). */
  diagnostics?(): string;
}

const API = 'portico.dev/v1alpha1';

/** The headings `kubectl get routes` and `kubectl get backends` print (`-o wide` adds the others). */
export const ROUTE_COLUMNS = ['NAME', 'HOSTS', 'BACKENDS', 'ACCEPTED', 'RESOLVEDREFS', 'PROGRAMMED', 'AGE'];
export const ROUTE_WIDE_COLUMNS = [...ROUTE_COLUMNS.slice(0, -1), 'CONFLICTED', 'AGE'];
export const BACKEND_COLUMNS = [
  'NAME',
  'ENDPOINTS',
  'PROTOCOL',
  'ACCEPTED',
  'RESOLVEDREFS',
  'PROGRAMMED',
  'AGE',
];
export const BACKEND_WIDE_COLUMNS = [...BACKEND_COLUMNS.slice(0, -1), 'SERVICE', 'POLICY', 'AGE'];

/** `kubectl get` output as its headings and one record per row, cut at the headings' columns (cells may be empty). */
export function parseTable(text: string): { headings: string[]; rows: Array<Record<string, string>> } {
  const [head = '', ...lines] = text.trimEnd().split('\n');
  const starts = [...head.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  const rows = lines.map((line) =>
    Object.fromEntries(
      starts.map(({ name, at }, i) => [name, line.slice(at, starts[i + 1]?.at ?? line.length).trim()]),
    ),
  );
  return { headings: starts.map((s) => s.name), rows };
}

type Rule = Record<string, unknown>;
type Condition = { status: string; reason: string; observedGeneration: number; generation: number };

export function e2eSuite(name: string, hooks: E2eHooks): void {
  const ns = `portico-e2e-${randomBytes(3).toString('hex')}`;
  const host = (label: string): string => `${label}.${ns}.e2e.test`;
  let target: E2eTarget | undefined;

  const t = (): E2eTarget => target ?? assert.fail('setup did not complete');
  const kubectl: Kubectl = (args, input) => t().kubectl(args, input);
  const get = (h: string, path = '/', headers: Record<string, string> = {}): Promise<ProxyResponse> =>
    proxyGet(t().proxy, h, path, headers);

  const backend = (origin: string): object => ({
    apiVersion: API,
    kind: 'Backend',
    metadata: { name: origin, namespace: ns },
    spec: t().origins.backendSpec(origin),
  });
  const route = (routeName: string, hostname: string, rules: Rule[]): object => ({
    apiVersion: API,
    kind: 'Route',
    metadata: { name: routeName, namespace: ns },
    spec: { hostnames: [hostname], rules },
  });
  const to = (origin: string, rule: Rule = {}): Rule => ({ ...rule, backendRefs: [{ name: origin }] });
  const prefix = (value: string): Rule => ({ matches: [{ path: { type: 'PathPrefix', value } }] });

  /** One condition as `kubectl get -o jsonpath` shows it, plus the object's generation. */
  async function condition(kind: string, objectName: string, type: string): Promise<Condition> {
    const c = `{.status.conditions[?(@.type=="${type}")]`;
    const out = await kubectl([
      'get',
      kind,
      objectName,
      '-n',
      ns,
      '-o',
      `jsonpath=${c}.status}|${c}.reason}|${c}.observedGeneration}|{.metadata.generation}`,
    ]);
    const [status = '', reason = '', observed = '', generation = ''] = out.split('|');
    return { status, reason, observedGeneration: Number(observed), generation: Number(generation) };
  }

  /** Waits until `type` has `status` (and `reason`) for the object's current generation. */
  async function expectCondition(
    kind: string,
    objectName: string,
    type: string,
    status: string,
    reason?: string,
  ): Promise<Condition> {
    return until(`${kind}/${objectName} ${type}=${status}`, async () => {
      const c = await condition(kind, objectName, type);
      assert.equal(c.status, status, `${type}: ${JSON.stringify(c)}`);
      if (reason !== undefined) assert.equal(c.reason, reason, `${type}: ${JSON.stringify(c)}`);
      assert.equal(c.observedGeneration, c.generation, `${type} describes an older generation`);
      return c;
    });
  }

  /** Waits until `h` + `path` is answered 200 by origin `origin`; returns what the origin saw. */
  async function expectOrigin(
    h: string,
    path: string,
    origin: string,
    headers: Record<string, string> = {},
  ): Promise<Echo> {
    return until(`${h}${path} → ${origin}`, async () => {
      const res = await get(h, path, headers);
      assert.equal(res.status, 200, `${res.status} ${res.body.slice(0, 200)}`);
      const echo = JSON.parse(res.body) as Echo;
      assert.equal(echo.origin, origin);
      return echo;
    });
  }

  async function expectStatus(h: string, status: number, path = '/'): Promise<void> {
    await until(`${h}${path} → ${status}`, async () => assert.equal((await get(h, path)).status, status));
  }

  describe(name, () => {
    before(async () => {
      target = await hooks.setup();
      await kubectl(['create', 'namespace', ns]);
      await kubectl(['label', 'namespace', ns, 'portico.dev/e2e=true']);
      await t().origins.start(t().kubectl, ns, ['a', 'b']);
      await apply(t().kubectl, backend('a'), backend('b'));
    });

    after(async () => {
      const errors: unknown[] = [];
      const steps: Array<() => Promise<unknown> | undefined> = [
        () => target?.origins.stop(),
        () => target?.kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']),
        () => hooks.teardown?.(target),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, 'e2e teardown');
    });

    /** Adds the hook's diagnostics to a failing test's error. */
    const it = (title: string, body: () => Promise<void>): void => {
      test(title, async () => {
        try {
          await body();
        } catch (error) {
          const extra = hooks.diagnostics?.();
          if (extra) (error as Error).message += `\n--- diagnostics ---\n${extra}`;
          throw error;
        }
      });
    };

    const web = host('web');

    it('a Backend and a Route applied with kubectl: traffic is answered', async () => {
      await apply(t().kubectl, route('web', web, [to('a')]));
      const echo = await expectOrigin(web, '/hello?x=1', 'a');
      assert.equal(echo.path, '/hello?x=1');
      assert.equal(echo.method, 'GET');
      await expectStatus(host('nobody'), 404);
    });

    it('status conditions: Accepted, ResolvedRefs, Programmed with observedGeneration', async () => {
      await expectCondition('route', 'web', 'Accepted', 'True', 'Accepted');
      await expectCondition('route', 'web', 'ResolvedRefs', 'True', 'ResolvedRefs');
      const programmed = await expectCondition('route', 'web', 'Programmed', 'True', 'Programmed');
      assert.equal(programmed.generation, 1);
      for (const b of ['a', 'b']) {
        await expectCondition('backend', b, 'Accepted', 'True');
        await expectCondition('backend', b, 'Programmed', 'True');
      }
    });

    it('kubectl get routes / backends: printer columns', async () => {
      const table = async (kind: string, ...extra: string[]): Promise<ReturnType<typeof parseTable>> =>
        parseTable(await kubectl(['get', kind, '-n', ns, ...extra]));
      await until('kubectl get routes: web Accepted, ResolvedRefs and Programmed', async () => {
        const routes = await table('routes');
        assert.deepEqual(routes.headings, ROUTE_COLUMNS);
        const row = routes.rows.find((r) => r['NAME'] === 'web');
        assert.ok(row, JSON.stringify(routes.rows));
        // One string each (the controller's status summaries), not a JSON array or the first value.
        assert.deepEqual(
          [row['HOSTS'], row['BACKENDS'], row['ACCEPTED'], row['RESOLVEDREFS'], row['PROGRAMMED']],
          [web, 'a', 'True', 'True', 'True'],
        );
      });
      const wide = await table('routes', '-o', 'wide');
      assert.deepEqual(wide.headings, ROUTE_WIDE_COLUMNS);
      assert.equal(wide.rows.find((r) => r['NAME'] === 'web')?.['CONFLICTED'], 'False');
      await until('kubectl get backends: endpoints with ports, conditions', async () => {
        const backends = await table('backends');
        assert.deepEqual(backends.headings, BACKEND_COLUMNS);
        const row = backends.rows.find((r) => r['NAME'] === 'a');
        assert.ok(row, JSON.stringify(backends.rows));
        assert.match(row['ENDPOINTS']!, /:\d+$/, 'every endpoint as address:port, or service/name:port');
        assert.deepEqual(
          [row['PROTOCOL'], row['ACCEPTED'], row['RESOLVEDREFS'], row['PROGRAMMED']],
          ['HTTP', 'True', 'True', 'True'],
        );
      });
      assert.deepEqual((await table('backends', '-o', 'wide')).headings, BACKEND_WIDE_COLUMNS);
    });

    it('changing the path match moves traffic', async () => {
      await apply(t().kubectl, route('web', web, [to('b', prefix('/api')), to('a')]));
      assert.equal((await expectOrigin(web, '/api/items', 'b')).path, '/api/items');
      await expectOrigin(web, '/', 'a');
      await expectCondition('route', 'web', 'Programmed', 'True');

      await apply(t().kubectl, route('web', web, [to('b', prefix('/v2')), to('a')]));
      await expectOrigin(web, '/v2/items', 'b');
      await expectOrigin(web, '/api/items', 'a');
      const programmed = await expectCondition('route', 'web', 'Programmed', 'True');
      assert.equal(programmed.generation, 3);
    });

    it('a header match and a RequestHeaderModifier filter: traffic follows', async () => {
      const canary = {
        matches: [{ headers: [{ name: 'X-E2E-Canary', value: 'yes' }] }],
        filters: [
          {
            type: 'RequestHeaderModifier',
            requestHeaderModifier: { set: [{ name: 'X-E2E-Route', value: 'canary' }] },
          },
        ],
      };
      await apply(t().kubectl, route('web', web, [to('b', canary), to('a')]));
      const seen = await expectOrigin(web, '/', 'b', { 'x-e2e-canary': 'yes' });
      assert.equal(seen.headers['x-e2e-route'], 'canary');
      const plain = await expectOrigin(web, '/', 'a', { 'x-e2e-canary': 'no' });
      assert.equal(plain.headers['x-e2e-route'], undefined);
      await expectOrigin(web, '/v2/items', 'a'); // the /v2 rule is gone
      await expectCondition('route', 'web', 'Programmed', 'True');
    });

    it('an invalid Route: Accepted=False with a reason and an Event; valid Routes keep serving', async () => {
      const badRegex = { matches: [{ path: { type: 'RegularExpression', value: '(?<=x)[' } }] };
      const broken = host('broken');
      await apply(t().kubectl, route('broken', broken, [to('a', badRegex)]));
      await expectCondition('route', 'broken', 'Accepted', 'False', 'InvalidRegex');
      await expectCondition('route', 'broken', 'ResolvedRefs', 'Unknown');
      await expectCondition('route', 'broken', 'Programmed', 'False', 'Invalid');
      const message = await kubectl([
        'get',
        'route',
        'broken',
        '-n',
        ns,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Accepted")].message}',
      ]);
      assert.match(message, /spec\.rules\[0\]\.matches\[0\]\.path\.value/);
      await expectStatus(broken, 404);
      await expectOrigin(web, '/', 'b', { 'x-e2e-canary': 'yes' });
      await until('Warning Event InvalidRegex', async () => {
        const events = await kubectl([
          'get',
          'events',
          '-n',
          ns,
          '--field-selector',
          'involvedObject.kind=Route,involvedObject.name=broken,type=Warning',
          '-o',
          'jsonpath={.items[*].reason}',
        ]);
        assert.match(events, /InvalidRegex/);
      });

      // An invalid edit of a serving Route: rejected, and its last valid generation keeps serving.
      await apply(t().kubectl, route('web', web, [to('b', badRegex), to('a')]));
      await expectCondition('route', 'web', 'Accepted', 'False', 'InvalidRegex');
      await expectCondition('route', 'web', 'Programmed', 'False', 'Invalid');
      const served = await expectOrigin(web, '/', 'b', { 'x-e2e-canary': 'yes' });
      assert.equal(served.headers['x-e2e-route'], 'canary');
      await kubectl(['delete', 'route', 'broken', '-n', ns]);
      await apply(t().kubectl, route('web', web, [to('a')]));
      await expectCondition('route', 'web', 'Accepted', 'True');
      await expectCondition('route', 'web', 'Programmed', 'True');
      await expectOrigin(web, '/', 'a', { 'x-e2e-canary': 'yes' });
    });

    it('a Route naming a missing Backend: ResolvedRefs=False BackendNotFound', async () => {
      await apply(t().kubectl, route('dangling', host('dangling'), [to('missing')]));
      await expectCondition('route', 'dangling', 'ResolvedRefs', 'False', 'BackendNotFound');
      await expectCondition('route', 'dangling', 'Accepted', 'True');
      await expectStatus(host('dangling'), 500);
      await expectOrigin(web, '/', 'a');
    });

    it('deleting the Route: its host answers 404', async () => {
      await kubectl(['delete', 'route', 'web', '-n', ns]);
      await expectStatus(web, 404);
      await kubectl(['delete', 'route', 'dangling', '-n', ns]);
      await expectStatus(host('dangling'), 404);
    });
  });
}
