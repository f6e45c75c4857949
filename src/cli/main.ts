#!/usr/bin/env node
/**
 * The `portico` command: serve Routes and Backends from files, validate them, explain a request, or
 * print the CRDs. `portico <command> --help` for each.
 */
import { parseArgs } from 'node:util';
import { ConfigError, PorticoError, type FieldError } from '../errors.ts';
import { loadDocuments, originOf } from '../config/file-source.ts';
import {
  ConfigStore,
  compileGatewayTable,
  explain,
  EMPTY_ROUTE_SET,
  type RouteSet,
} from '../gateway/index.ts';
import { renderCrdYaml, validateObjects, writeCrds, type CrdKind } from '../routing/index.ts';
import { createLogger } from '../observability/index.ts';
import { DATA_PLANE_HELP, DATA_PLANE_OPTIONS, resolveServeSettings } from './options.ts';

const HELP: Record<string, string> = {
  '': `portico — a programmable reverse proxy and Kubernetes ingress controller

Usage: portico <command> [options]

Commands:
  serve      serve Routes and Backends from YAML files (watched; edits apply without a restart)
  controller serve Routes and Backends from Kubernetes (status, leader election, EndpointSlices)
  validate   check YAML files; print every problem with its field path; exit 1 if any
  explain    show which route, rule and backend a request would take, and why
  crds       print the CustomResourceDefinitions (or write them with --write DIR)

Run "portico <command> --help" for a command's options.`,
  serve: `Usage: portico serve -f FILE_OR_DIR... [options]

  -f, --file PATH            config file or directory (repeatable)            PORTICO_FILES
${DATA_PLANE_HELP}
      --admin-token TOKEN    bearer token that enables admin API writes         PORTICO_ADMIN_TOKEN
      --config FILE          YAML with the same settings (camelCase keys); flags > env > file`,
  validate: `Usage: portico validate -f FILE_OR_DIR...

Validates every Route and Backend; prints each problem as "file:line Kind ns/name: field: message (Reason)".
Exit status: 0 valid, 1 invalid, 2 unreadable.`,
  explain: `Usage: portico explain -f FILE_OR_DIR... --host HOST --path PATH [--method GET] [--header "Name: value"]...

Prints, as JSON, the route, rule and match that win for the request, the backends and their endpoints.`,
  crds: `Usage: portico crds [Route|Backend] [--write DIR]

Prints the CRD YAML generated from the schema (both kinds when none is named), or writes crds/*.yaml.`,
};

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  file: { type: 'string', short: 'f', multiple: true },
} as const;

function fail(message: string, code = 2): never {
  process.stderr.write(`portico: ${message}\n`);
  process.exit(code);
}

function printFieldErrors(errors: readonly FieldError[], docs: readonly unknown[] = []): void {
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

async function validateCommand(argv: string[]): Promise<void> {
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

async function explainCommand(argv: string[]): Promise<void> {
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
  let set: RouteSet = EMPTY_ROUTE_SET;
  const store = new ConfigStore(
    { workers: 0, onMessage: () => undefined, broadcast: (_t, body) => void (set = body as RouteSet) },
    createLogger({ level: 'silent', sync: true }),
  );
  await store.replace(docs);
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

async function crdsCommand(argv: string[]): Promise<void> {
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

async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      ...DATA_PLANE_OPTIONS,
      'admin-token': { type: 'string' },
      config: { type: 'string' },
    },
  });
  if (values.help) return void console.log(HELP.serve);
  const { config, help: _help, ...flags } = values;
  await (await import('./serve.ts')).serve(resolveServeSettings(flags, config));
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  serve: serveCommand,
  validate: validateCommand,
  explain: explainCommand,
  crds: crdsCommand,
  // Loaded on use: a worker of `serve` never loads the Kubernetes client, and vice versa.
  controller: async (argv) => (await import('./controller.ts')).controllerCommand(argv),
};

const [command = '', ...rest] = process.argv.slice(2);
const run = COMMANDS[command];
if (run === undefined) {
  console.log(HELP['']);
  process.exit(command === '' || command === '--help' || command === '-h' ? 0 : 2);
}
run(rest).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    printFieldErrors(error.errors);
    process.exit(2);
  }
  fail(error instanceof PorticoError ? error.message : String((error as Error)?.stack ?? error));
});
