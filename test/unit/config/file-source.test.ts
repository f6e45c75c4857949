import { test } from 'node:test';
import assert from 'node:assert/strict';
import { originOf, parseDocuments } from '../../../src/config/file-source.ts';

test('a kubectl List (what `kubectl get -o yaml` writes) stands for its items, each with its own line', () => {
  const yaml = `apiVersion: v1
kind: List
items:
  - apiVersion: portico.dev/v1alpha1
    kind: Backend
    metadata: { name: web }
    spec: { endpoints: [{ address: 127.0.0.1, port: 80 }] }
  - apiVersion: portico.dev/v1alpha1
    kind: Route
    metadata: { name: web }
    spec: { rules: [{ backendRefs: [{ name: web }] }] }
---
apiVersion: portico.dev/v1alpha1
kind: Route
metadata: { name: other }
`;
  const docs = parseDocuments(yaml, 'f.yaml') as Array<{ kind: string }>;
  assert.deepEqual(
    docs.map((d) => d.kind),
    ['Backend', 'Route', 'Route'],
  );
  assert.deepEqual(docs.map(originOf), ['f.yaml:4', 'f.yaml:8', 'f.yaml:13']);
});

test('a List of another apiVersion, or without items, is one document as written', () => {
  const docs = parseDocuments(
    'apiVersion: other/v1\nkind: List\nitems: []\n---\napiVersion: v1\nkind: List\n',
    'f',
  );
  assert.equal(docs.length, 2);
});
