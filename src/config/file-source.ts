import { statSync, watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { ConfigError, type FieldError } from '../errors.ts';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Files under `paths` (directories walked recursively, sorted, so load order is stable). */
async function listFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw new ConfigError([
        {
          object: path,
          path: '',
          message: `cannot read: ${(error as Error).message}`,
          reason: 'FileNotFound',
        },
      ]);
    }
    if (info.isFile()) {
      files.push(path);
      continue;
    }
    const entries = await readdir(path, { recursive: true, withFileTypes: true });
    files.push(
      ...entries
        .filter((e) => e.isFile() && CONFIG_EXTENSIONS.has(extname(e.name)))
        .map((e) => join(e.parentPath, e.name))
        .sort(),
    );
  }
  return files;
}

/**
 * Parses multi-document YAML (JSON is YAML). A syntax error anywhere fails the whole load with
 * `file:line:column`, so a half-saved file never becomes a configuration.
 */
export function parseDocuments(text: string, file: string): unknown[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const errors: FieldError[] = [];
  for (const doc of list) {
    for (const e of doc.errors) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      errors.push({
        object: `${file}:${line}:${col}`,
        path: '',
        message: e.message.split('\n')[0]!,
        reason: 'InvalidYAML',
      });
    }
  }
  if (errors.length > 0) throw new ConfigError(errors);
  const result: unknown[] = [];
  const lineOf = (offset: number | undefined): string => `${file}:${lineCounter.linePos(offset ?? 0).line}`;
  for (const doc of list) {
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const start = doc.contents?.range[0];
    if (isKubectlList(value)) {
      // `kubectl get routes -o yaml` writes one v1 List; its items are the objects.
      const nodes = (doc.get('items', true) as { items?: Array<{ range?: [number] }> } | undefined)?.items;
      value.items.forEach((item, i) => {
        if (typeof item === 'object' && item !== null)
          origins.set(item, lineOf(nodes?.[i]?.range?.[0] ?? start));
        result.push(item);
      });
      continue;
    }
    if (typeof value === 'object') origins.set(value, lineOf(start));
    result.push(value);
  }
  return result;
}

function isKubectlList(value: unknown): value is { items: unknown[] } {
  const v = value as { apiVersion?: unknown; kind?: unknown; items?: unknown } | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.apiVersion === 'v1' &&
    v.kind === 'List' &&
    Array.isArray(v.items)
  );
}

/** Where a parsed document came from, for messages: `file:line`. */
const origins = new WeakMap<object, string>();

export function originOf(doc: unknown): string | undefined {
  return typeof doc === 'object' && doc !== null ? origins.get(doc) : undefined;
}

/** Reads every config file under `paths`. Throws ConfigError naming the file (and line) on failure. */
export async function loadDocuments(paths: readonly string[]): Promise<unknown[]> {
  const files = await listFiles(paths);
  const texts = await Promise.all(files.map(async (f) => [f, await readFile(f, 'utf8')] as const));
  return texts.flatMap(([file, text]) => parseDocuments(text, file));
}

/**
 * Watches config paths and calls `onChange` after edits settle (`debounceMs` of quiet), so an editor's
 * write-rename-delete dance produces one reload.
 */
export class FileWatcher {
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(paths: readonly string[], onChange: () => void, debounceMs = 150) {
    const changed = (): void => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(onChange, debounceMs);
    };
    for (const path of paths) {
      // Editors save by writing a new file and renaming it over the old one, which ends a watch on the
      // file itself; watching its directory survives that.
      if (statSync(path).isFile()) {
        const name = basename(path);
        this.#watchers.push(watch(dirname(path), { persistent: false }, (_e, f) => f === name && changed()));
      } else {
        this.#watchers.push(watch(path, { recursive: true, persistent: false }, changed));
      }
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
  }
}
