import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

type Load = (url: string, context: unknown, next: (url: string, context: unknown) => unknown) => unknown;

const file = join(
  process.env.PORTICO_MODULE_LOG_DIR ?? '.',
  `${process.env.PORTICO_WORKER_ID ?? 'primary'}.txt`,
);

export const load: Load = (url, context, next) => {
  appendFileSync(file, `${url}\n`);
  return next(url, context);
};
