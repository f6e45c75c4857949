// The CRDs in crds/ are generated from src/routing/schema.ts; this fails when someone changes one
// without the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CRD_FILES, crdFor, renderCrdYaml, type CrdKind } from '../../../src/routing/index.ts';

const crdDir = fileURLToPath(new URL('../../../crds/', import.meta.url));

for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
  test(`crds/${CRD_FILES[kind]} matches the schema`, async () => {
    const onDisk = await readFile(crdDir + CRD_FILES[kind], 'utf8').catch(() => '');
    assert.ok(
      onDisk === renderCrdYaml(kind),
      `crds/${CRD_FILES[kind]} is out of date with src/routing/schema.ts; regenerate it: ` +
        `portico crds ${kind} > crds/${CRD_FILES[kind]}  (or call writeCrds('crds') from src/routing)`,
    );
  });
}

test('the CRD schema is structural: no TypeBox-only keywords, enums instead of const/anyOf', () => {
  const forbidden = new Set(['$id', 'const', 'anyOf', 'oneOf', 'allOf', '$ref']);
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}[${i}]`));
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      assert.ok(!forbidden.has(key), `${path}.${key}`);
      if (key === 'additionalProperties') assert.notEqual(value, false, `${path}.${key}`);
      if (key !== 'x-kubernetes-validations' && key !== 'enum' && key !== 'default')
        walk(value, `${path}.${key}`);
    }
  };
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) walk(parse(renderCrdYaml(kind)), kind);
});

/** The parts of a CRD this test reads. */
interface CrdShape {
  spec: {
    scope: string;
    names: { shortNames: string[]; categories: string[] };
    versions: {
      subresources: unknown;
      additionalPrinterColumns: { name: string }[];
      schema: {
        openAPIV3Schema: {
          properties: {
            status: {
              properties: {
                conditions: {
                  'x-kubernetes-list-map-keys': string[];
                  items: { properties: Record<string, unknown> };
                };
              };
            };
          };
        };
      };
    }[];
  };
}

test('CRD metadata: namespaced, status subresource, short names, printer columns', () => {
  const route = crdFor('Route') as unknown as CrdShape;
  assert.equal(route.spec.scope, 'Namespaced');
  assert.deepEqual(route.spec.names.shortNames, ['proute']);
  assert.deepEqual(route.spec.names.categories, ['portico']);
  const version = route.spec.versions[0]!;
  assert.deepEqual(version.subresources, { status: {} });
  assert.deepEqual(
    version.additionalPrinterColumns.map((c) => c.name),
    ['Hosts', 'Backends', 'Accepted', 'ResolvedRefs', 'Programmed', 'Conflicted', 'Age'],
  );
  const conditions = version.schema.openAPIV3Schema.properties.status.properties.conditions;
  assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
  assert.deepEqual(Object.keys(conditions.items.properties).sort(), [
    'lastTransitionTime',
    'message',
    'observedGeneration',
    'reason',
    'status',
    'type',
  ]);
});

interface SchemaNode {
  description?: string;
  default?: unknown;
  required?: string[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Every property of `node` and below, with its dotted path (array items as `[]`). */
function* fields(node: SchemaNode, path: string): Generator<[string, SchemaNode, SchemaNode]> {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    yield [`${path}.${name}`, child, node];
    yield* fields(child, `${path}.${name}`);
    if (child.items !== undefined) yield* fields(child.items, `${path}.${name}[]`);
  }
}

function rootSchema(kind: CrdKind): SchemaNode {
  return (crdFor(kind) as unknown as { spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] } })
    .spec.versions[0]!.schema.openAPIV3Schema;
}

test('issue #21: every CRD field has a description for kubectl explain', () => {
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    const missing = [...fields(rootSchema(kind), kind)]
      // The API server refuses anything but `type: object` on metadata.
      .filter(([path]) => path !== `${kind}.metadata`)
      .filter(([, node]) => typeof node.description !== 'string' || node.description.length < 8)
      .map(([path]) => path);
    assert.deepEqual(missing, [], `${kind}: fields without a description`);
  }
});

test('issue #21: a field with a default is never required (the API server fills it in)', () => {
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    const wrong = [...fields(rootSchema(kind), kind)]
      .filter(
        ([path, node, parent]) =>
          node.default !== undefined && parent.required?.includes(path.split('.').pop()!),
      )
      .map(([path]) => path);
    assert.deepEqual(wrong, [], `${kind}: defaulted fields marked required`);
  }
});

test('issue #21: printer columns read one string each, so every host, backend and endpoint shows', () => {
  const columns = (kind: CrdKind): Record<string, { jsonPath: string; priority?: number }> =>
    Object.fromEntries(
      (crdFor(kind) as unknown as CrdShape).spec.versions[0]!.additionalPrinterColumns.map((c) => [
        c.name,
        c as unknown as { jsonPath: string; priority?: number },
      ]),
    );
  const route = columns('Route');
  assert.equal(route['Hosts']?.jsonPath, '.status.hostnames');
  assert.equal(route['Backends']?.jsonPath, '.status.backends');
  assert.equal(route['Conflicted']?.priority, 1, 'Conflicted shows with -o wide');
  const backend = columns('Backend');
  assert.deepEqual(Object.keys(backend), [
    'Endpoints',
    'Protocol',
    'Accepted',
    'ResolvedRefs',
    'Programmed',
    'Service',
    'Policy',
    'Age',
  ]);
  assert.equal(backend['Endpoints']?.jsonPath, '.status.endpoints');
  assert.equal(backend['Service']?.priority, 1);
  assert.equal(backend['Policy']?.priority, 1);
});
