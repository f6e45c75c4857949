#!/usr/bin/env node
/**
 * The `portico` command: serve Routes and Backends from files, validate them, explain a request, or
 * print the CRDs. `portico <command> --help` for each.
 */
import { parseArgs } from 'node:util';
import { ConfigError, PorticoError } from '../errors.ts';
import { COMMON, HELP, fail } from './common.ts';
import { DATA_PLANE_OPTIONS, resolveServeSettings } from './options.ts';

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

// Commands load on use: every worker re-runs this file, and a worker of `serve` must not load the
// Kubernetes client, nor YAML and the schema's validators, which only the primary and the tools use.
const tools = (): Promise<typeof import('./tools.ts')> => import('./tools.ts');
const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  serve: serveCommand,
  validate: async (argv) => (await tools()).validateCommand(argv),
  explain: async (argv) => (await tools()).explainCommand(argv),
  crds: async (argv) => (await tools()).crdsCommand(argv),
  controller: async (argv) => (await import('./controller.ts')).controllerCommand(argv),
};

const [command = '', ...rest] = process.argv.slice(2);
const run = COMMANDS[command];
if (run === undefined) {
  console.log(HELP['']);
  process.exit(command === '' || command === '--help' || command === '-h' ? 0 : 2);
}
run(rest).catch(async (error: unknown) => {
  if (error instanceof ConfigError) {
    (await tools()).printFieldErrors(error.errors);
    process.exit(2);
  }
  fail(error instanceof PorticoError ? error.message : String((error as Error)?.stack ?? error));
});
