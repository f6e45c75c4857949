/**
 * CustomResourceDefinitions generated from the TypeBox schema, so `kubectl apply` enforces the same
 * shapes, defaults and CEL rules as the file loader. The files in `crds/` are this module's output;
 * a unit test fails when they drift.
 *
 * TypeBox emits plain JSON Schema, which is not quite a Kubernetes structural schema: literals are
 * `const` and enums are `anyOf` of literals (neither allowed), and `additionalProperties: false`
 * may not sit beside `properties` (the API server prunes unknown fields instead). `toStructural`
 * rewrites those and refuses any keyword apiextensions/v1 does not know.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { InvalidArgumentError } from '../errors.ts';
import { API_GROUP, BackendSpec, BackendStatus, RouteSpec, RouteStatus } from './schema.ts';

type JsonSchema = { [key: string]: unknown };

const ALLOWED_KEYS = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'properties',
  'additionalProperties',
  'nullable',
  'example',
]);

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An `anyOf` of literals (TypeBox's string enum) becomes `type` + `enum`. */
function literalUnion(schema: JsonSchema): JsonSchema | undefined {
  const options = schema['anyOf'];
  if (!Array.isArray(options) || !options.every((o) => isSchema(o) && 'const' in o)) return undefined;
  const { anyOf: _anyOf, ...rest } = schema;
  const values = (options as JsonSchema[]).map((o) => o['const']);
  return { type: typeof values[0] === 'number' ? 'integer' : 'string', ...rest, enum: values };
}

/** Converts one TypeBox schema node (and its children) into a structural schema node. */
export function toStructural(schema: JsonSchema, path = '$'): JsonSchema {
  const union = literalUnion(schema);
  if (union !== undefined) return union;
  // `type` first keeps the generated YAML readable; the order has no meaning to Kubernetes.
  const out: JsonSchema = 'type' in schema ? { type: schema['type'] } : {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'const') out['enum'] = [value];
    else if (key === 'additionalProperties' && value === false) continue;
    else if (key === 'required' && Array.isArray(value)) {
      // A field the API server defaults is never missing, so `kubectl explain` must not call it required.
      const properties = isSchema(schema['properties']) ? schema['properties'] : {};
      const required = value.filter(
        (name: string) => !isSchema(properties[name]) || !('default' in properties[name]),
      );
      if (required.length > 0) out[key] = required;
    } else if (key === 'properties' && isSchema(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, s]) => [name, toStructural(s as JsonSchema, `${path}.${name}`)]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && isSchema(value)) {
      out[key] = toStructural(value, `${path}[]`);
    } else if (ALLOWED_KEYS.has(key) || key.startsWith('x-kubernetes-')) out[key] = value;
    else
      throw new InvalidArgumentError(`schema ${path}.${key}`, 'keyword not allowed in a structural schema');
  }
  return out;
}

export type CrdKind = 'Route' | 'Backend';

interface KindInfo {
  plural: string;
  shortNames: string[];
  description: string;
  spec: JsonSchema;
  status: JsonSchema;
  columns: { name: string; type: string; jsonPath: string; description: string; priority?: number }[];
}

const condition = (type: string): string => `.status.conditions[?(@.type=="${type}")].status`;
const AGE = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation',
};

/**
 * The condition columns. A column shows only the first value its JSONPath finds (the API server's
 * table converter), so lists (hostnames, backends, endpoints) are summarised by the controller into
 * one string in status and shown from there.
 */
const CONDITION_COLUMNS = [
  { name: 'Accepted', type: 'string', jsonPath: condition('Accepted'), description: 'The object is valid' },
  {
    name: 'ResolvedRefs',
    type: 'string',
    jsonPath: condition('ResolvedRefs'),
    description: 'Every referenced Backend or Secret exists (False: that share of traffic fails)',
  },
  {
    name: 'Programmed',
    type: 'string',
    jsonPath: condition('Programmed'),
    description: 'Every worker serves this generation',
  },
];

const KINDS: Record<CrdKind, KindInfo> = {
  Route: {
    plural: 'routes',
    // `route` and `rt` would collide with OpenShift's Route; `proute` is unambiguous.
    shortNames: ['proute'],
    description: 'Route sends matching HTTP requests to Backends; semantics follow Gateway API HTTPRoute.',
    spec: RouteSpec,
    status: RouteStatus,
    columns: [
      {
        name: 'Hosts',
        type: 'string',
        jsonPath: '.status.hostnames',
        description: 'Hostnames served (* for a Route without hostnames)',
      },
      {
        name: 'Backends',
        type: 'string',
        jsonPath: '.status.backends',
        description: 'Every Backend the rules reference',
      },
      ...CONDITION_COLUMNS,
      {
        name: 'Conflicted',
        type: 'string',
        jsonPath: condition('Conflicted'),
        description: 'True when another Route won one of its matches or certificates',
        priority: 1,
      },
      AGE,
    ],
  },
  Backend: {
    plural: 'backends',
    shortNames: ['pbackend'],
    description: 'Backend is a set of upstream endpoints, static or from a Service, and how to reach them.',
    spec: BackendSpec,
    status: BackendStatus,
    columns: [
      {
        name: 'Endpoints',
        type: 'string',
        jsonPath: '.status.endpoints',
        description: 'Static endpoints as address:port, or service/name:port when discovered from a Service',
      },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol', description: 'Upstream protocol' },
      ...CONDITION_COLUMNS,
      {
        name: 'Service',
        type: 'string',
        jsonPath: '.spec.service.name',
        description: 'Discovered Service',
        priority: 1,
      },
      {
        name: 'Policy',
        type: 'string',
        jsonPath: '.spec.loadBalancer.policy',
        description: 'Load-balancing policy',
        priority: 1,
      },
      AGE,
    ],
  },
};

/** The CustomResourceDefinition object for `kind`, as plain data. */
export function crdFor(kind: CrdKind): Record<string, unknown> {
  const info = KINDS[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: info.plural,
        singular: kind.toLowerCase(),
        shortNames: info.shortNames,
        categories: ['portico'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: info.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: `The versioned schema of this object: ${API_GROUP}/v1alpha1.`,
                },
                kind: { type: 'string', description: `The kind of this object: ${kind}.` },
                // The API server allows nothing here but the type: metadata's schema is its own.
                metadata: { type: 'object' },
                spec: toStructural(info.spec, 'spec'),
                status: toStructural(info.status, 'status'),
              },
            },
          },
        },
      ],
    },
  };
}

/** File name of each CRD in `crds/`, after the controller-gen convention `<group>_<plural>.yaml`. */
export const CRD_FILES: Readonly<Record<CrdKind, string>> = {
  Route: `${API_GROUP}_routes.yaml`,
  Backend: `${API_GROUP}_backends.yaml`,
};

/** The YAML written to `crds/` for `kind`: deterministic, so the drift test can compare bytes. */
export function renderCrdYaml(kind: CrdKind): string {
  const header = `# Generated from src/routing/schema.ts by \`portico crds\`. Do not edit by hand.\n`;
  return header + stringify(crdFor(kind), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Writes both CRDs into `dir` and returns the paths written. */
export async function writeCrds(dir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    const path = join(dir, CRD_FILES[kind]);
    await writeFile(path, renderCrdYaml(kind));
    paths.push(path);
  }
  return paths;
}
