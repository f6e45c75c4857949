/**
 * The commands that read config without serving it — `validate`, `explain`, `crds` — loaded only when
 * one runs: they need YAML, the TypeBox schema and the whole gateway, which a worker never does.
 */
import { parseArgs } from 'node:util';
import { ConfigError, type FieldError } from '../errors.ts';
import { loadDocuments, originOf } from '../config/file-source.ts';
import { ConfigStore, compileGatewayTable, explain } from '../gateway/index.ts';
import { renderCrdYaml, validateObjects, writeCrds, type CrdKind } from '../routing/index.ts';
import { createLogger } from '../observability/index.ts';
import { COMMON, HELP, fail } from './common.ts';

export function printFieldErrors(errors: readonly FieldError[], docs: readonly unknown[] = []): void {
  for (const e of errors) {
    const origin = docs.map(originOf).find((o, i) => o !== undefined && e.object === objectName(docs[i]));
    process.stderr.write(
      `${origin ? `${origin} ` : ''}${e.object}: ${e.path ? `${e.path}: ` : ''}${e.message} (${e.reason})\n`,
    );
  }
}

/** `Route default/shop`, as field errors name their object: a Route and a Backend may share a name. */
function objectName(doc: unknown): string {
  const d = doc as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
  return `${d?.kind ?? '?'} ${d?.metadata?.namespace ?? 'default'}/${d?.metadata?.name ?? '?'}`;
}

async function load(files: string[] | undefined): Promise<unknown[]> {
  if (files === undefined || files.length === 0) fail('give at least one file or directory with -f');
  try {
    return await loadDocuments(files);
  } catch (error) {
    if (error instanceof ConfigError) {
      printFieldErrors(error.errors);
      process.exit(2);
    }
    throw error;
  }
}

export async function validateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: COMMON });
  if (values.help) return void console.log(HELP.validate);
  const docs = await load(values.file);
  const result = validateObjects(docs);
  const problems = [...result.rejected.flatMap((r) => r.errors), ...result.unresolvedRefs];
  printFieldErrors(problems, docs);
  console.log(
    `${result.routes.length} Route(s) and ${result.backends.length} Backend(s) valid; ${result.rejected.length} rejected; ${result.unresolvedRefs.length} unresolved reference(s)`,
  );
  process.exit(problems.length > 0 ? 1 : 0);
}

export async function explainCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      host: { type: 'string' },
      path: { type: 'string' },
      method: { type: 'string' },
      header: { type: 'string', multiple: true },
    },
  });
  if (values.help) return void console.log(HELP.explain);
  if (typeof values.host !== 'string' || typeof values.path !== 'string')
    fail('explain needs --host and --path');
  const docs = await load(values.file);
  const store = new ConfigStore(
    { workers: 0, onMessage: () => undefined, broadcast: () => undefined },
    createLogger({ level: 'silent', sync: true }),
  );
  await store.replace(docs);
  store.close();
  const set = store.current;
  const headers = Object.fromEntries(
    (values.header ?? []).map((h) => {
      const colon = h.indexOf(':');
      if (colon < 1) fail(`--header "${h}" must look like "Name: value"`);
      return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
    }),
  );
  console.log(
    JSON.stringify(
      explain(compileGatewayTable(set), {
        host: values.host,
        path: values.path,
        method: values.method,
        headers,
      }),
      null,
      2,
    ),
  );
}

export async function crdsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' }, write: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) return void console.log(HELP.crds);
  if (typeof values.write === 'string') {
    for (const file of await writeCrds(values.write)) console.log(`wrote ${file}`);
    return;
  }
  const names = positionals.length > 0 ? positionals : ['Route', 'Backend'];
  const unknown = names.find((k) => k !== 'Route' && k !== 'Backend');
  if (unknown !== undefined) fail(`unknown kind "${unknown}": Route or Backend`);
  const kinds = names as CrdKind[];
  process.stdout.write(kinds.map((k) => renderCrdYaml(k)).join('---\n'));
}
