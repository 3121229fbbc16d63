/**
 * Logging: pino on stderr (stdout stays free for data such as `--json` output), human-readable
 * when the terminal is interactive, JSON lines otherwise.
 */
import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import { writeAboveStatus } from './status-line.js';

export type { Logger };

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? 'info';
  // Logs go to stderr, so stderr decides: `nas ... --json > out.json` at a terminal still reads as text.
  const usePretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (!usePretty) return pino({ level }, pino.destination({ dest: 2, sync: true }));
  // pino-pretty loads only for a terminal: a pipe (tests, scripts, CI) does without it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const format = prettyFactory({ colorize: Boolean(process.stderr.isTTY), ignore: 'pid,hostname', translateTime: 'HH:MM:ss' });
  // Formatted synchronously and written above the progress bar, so a log line never lands on the bar's row.
  return pino({ level }, { write: (line: string) => writeAboveStatus(format(line)) });
}

/** A logger that drops everything, for library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
