/**
 * Renders docs/configuration.md, the Route and Backend field reference, from the CRDs in crds/
 * (their openAPIV3Schema: field path, type, default, enum and limits, description, CEL rules).
 * The reference is never written by hand; chart.test.ts fails when the file drifts.
 *
 *   npx node test/chart/gen-config-doc.ts           # rewrite docs/configuration.md
 *   npx node test/chart/gen-config-doc.ts --check   # exit 1 when it is stale
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The subset of a structural OpenAPI v3 schema that the CRDs use. */
interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

interface Crd {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames?: string[] };
    versions: {
      name: string;
      additionalPrinterColumns?: { name: string; jsonPath: string; description?: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

interface Row {
  path: string;
  schema: Schema;
  required: boolean;
}

/** A table cell: pipes escaped, line breaks flattened. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Inline code that survives backticks inside the text. */
function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function typeOf(s: Schema): string {
  if (s.type === 'array') return `[]${s.items ? typeOf(s.items) : 'any'}`;
  return s.format ? `${s.type ?? 'any'} (${s.format})` : (s.type ?? 'any');
}

function range(min: number | undefined, max: number | undefined, what: string): string | undefined {
  if (min === undefined && max === undefined) return undefined;
  if (min !== undefined && max !== undefined) return `${what} ${min}–${max}`;
  return min !== undefined ? `${what} ≥ ${min}` : `${what} ≤ ${max}`;
}

/** Enum, limits, pattern and list semantics of one field, in words. */
function constraints(s: Schema): string {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map((v) => code(String(v))).join(', ')}`);
  const r = range(s.minimum, s.maximum, 'range');
  if (r) out.push(r);
  const len = range(s.minLength, s.maxLength, 'length');
  if (len) out.push(len);
  const items = range(s.minItems, s.maxItems, 'items');
  if (items) out.push(items);
  if (s.pattern) out.push(`pattern ${code(s.pattern)}`);
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'map')
    out.push(`unique by ${(s['x-kubernetes-list-map-keys'] ?? []).map(code).join(', ')}`);
  // A list of scalars has no rows of its own for the items: show their limits here.
  if (s.type === 'array' && s.items && s.items.type !== 'object') {
    const each = constraints(s.items);
    if (each) out.push(`each: ${each}`);
  }
  return out.join('; ');
}

/** Description plus the object's CEL rules, which carry the cross-field constraints. */
function describe(s: Schema): string {
  const text = s.description ?? (s.type === 'array' ? s.items?.description : undefined);
  const parts = text ? [text] : [];
  for (const v of s['x-kubernetes-validations'] ?? []) parts.push(`Rule: ${v.message ?? v.rule}.`);
  return parts.join(' ');
}

/** Every field below `schema`, depth first in declaration order; array items add `[]`. */
function rows(schema: Schema, prefix: string): Row[] {
  const out: Row[] = [];
  const object = schema.type === 'array' ? schema.items : schema;
  const suffix = schema.type === 'array' ? '[]' : '';
  for (const [name, child] of Object.entries(object?.properties ?? {})) {
    const path = `${prefix}${suffix}.${name}`;
    out.push({ path, schema: child, required: (object?.required ?? []).includes(name) });
    out.push(...rows(child, path));
  }
  return out;
}

function table(root: Schema, top: string): string[] {
  const lines = [
    '| Field | Type | Required | Default | Allowed values | Description |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows(root, top)) {
    const s = r.schema;
    // The API server applies defaults before it checks required fields: a defaulted field may be omitted.
    const required = r.required && s.default === undefined ? 'yes' : '';
    const def = s.default === undefined ? '' : code(JSON.stringify(s.default));
    lines.push(
      `| ${[code(r.path), code(typeOf(s)), required, def, constraints(s), describe(s)].map(cell).join(' | ')} |`,
    );
  }
  return lines;
}

function section(crd: Crd): string[] {
  const { names, group, scope } = crd.spec;
  const version = crd.spec.versions[0]!;
  const schema = version.schema.openAPIV3Schema;
  const props = schema.properties ?? {};
  const lines = [
    `## ${names.kind}`,
    '',
    `\`${group}/${version.name}\`, ${scope.toLowerCase()}; \`kubectl get ${names.plural}\`` +
      (names.shortNames?.length ? ` (short: ${names.shortNames.map(code).join(', ')})` : '') +
      '.',
    '',
  ];
  if (schema.description) lines.push(schema.description, '');
  if (version.additionalPrinterColumns?.length) {
    lines.push(
      '`kubectl get` columns: ' + version.additionalPrinterColumns.map((c) => c.name).join(', ') + '.',
      '',
    );
  }
  for (const top of ['spec', 'status']) {
    const s = props[top];
    if (s === undefined) continue;
    lines.push(`### ${names.kind} \`${top}\``, '');
    const rules = describe({ 'x-kubernetes-validations': s['x-kubernetes-validations'] });
    if (rules) lines.push(rules, '');
    lines.push(...table(s, top), '');
  }
  return lines;
}

/** The whole document, from the CRD files in `root`/crds (Route first, then the rest by name). */
export async function renderConfigDoc(root: string): Promise<string> {
  const files = (await readdir(join(root, 'crds'))).filter((f) => f.endsWith('.yaml')).sort();
  const crds = await Promise.all(
    files.map(async (f) => parse(await readFile(join(root, 'crds', f), 'utf8')) as Crd),
  );
  crds.sort((a, b) => rank(a) - rank(b) || a.spec.names.kind.localeCompare(b.spec.names.kind));
  const lines = [
    '<!-- Generated from crds/*.yaml by test/chart/gen-config-doc.ts. Do not edit by hand: run',
    '     `npx node test/chart/gen-config-doc.ts` (a test fails when this file is stale). -->',
    '',
    '# Configuration reference: Route and Backend',
    '',
    'Every field of the `portico.dev` resources, generated from the CRDs (which are generated from',
    'the one schema in `src/routing/schema.ts`). The same YAML works with `kubectl apply -f` and',
    'with `portico serve -f`, and `portico validate -f FILE` checks it offline with the same rules.',
    '',
    '- **Field** is the path in the object: `[]` marks an array element.',
    '- **Required** says "yes" only when you must write the field: a field with a default is filled',
    '  in by the API server (or by `portico serve`) when you leave it out.',
    '- **Rule** lines are cross-field constraints (CEL `x-kubernetes-validations`) that the API server',
    '  enforces on apply.',
    '- Durations use the Gateway API format: `10s`, `500ms`, `1m30s`, `1h`.',
    '',
    'Examples to copy: [manifests/examples](../manifests/examples/). Semantics follow Gateway API',
    'HTTPRoute (match precedence, filter names, condition types) wherever it has an answer.',
    '',
    ...crds.flatMap(section),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

function rank(crd: Crd): number {
  return crd.spec.names.kind === 'Route' ? 0 : 1;
}

if (import.meta.main) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const target = join(root, 'docs/configuration.md');
  const fresh = await renderConfigDoc(root);
  if (process.argv.includes('--check')) {
    const current = await readFile(target, 'utf8').catch(() => '');
    if (current !== fresh) {
      console.error('docs/configuration.md is stale: run  npx node test/chart/gen-config-doc.ts');
      process.exit(1);
    }
  } else {
    await writeFile(target, fresh);
    console.log('wrote docs/configuration.md');
  }
}
