import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /** Write synchronously (tests, short-lived commands). Default false: buffered, flushed on exit. */
  sync?: boolean;
}

/** A pino JSON logger on stdout; the process's single logger, with children per component. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = pino.destination({
    dest: 1,
    sync: options.sync ?? false,
    minLength: options.sync ? 0 : 4096,
  });
  // Buffered writes keep the access log cheap; a bounded flush interval (nginx's `flush=1s`) keeps an
  // error line from waiting indefinitely for the buffer to fill.
  if (options.sync !== true) setInterval(() => destination.flush(), 1_000).unref();
  return pino(
    {
      level: options.level ?? process.env.PORTICO_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
