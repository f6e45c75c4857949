/** Help texts, shared options and the exit path of the `portico` commands. */
import { DATA_PLANE_HELP } from './options.ts';

export const HELP: Record<string, string> = {
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

export const COMMON = {
  help: { type: 'boolean', short: 'h' },
  file: { type: 'string', short: 'f', multiple: true },
} as const;

export function fail(message: string, code = 2): never {
  process.stderr.write(`portico: ${message}\n`);
  process.exit(code);
}
