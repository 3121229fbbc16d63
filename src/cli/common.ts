/** What every command shares: logging, error reporting with exit codes, spec arguments. */
import { existsSync, readFileSync } from 'node:fs';
import type { ArgumentsCamelCase } from 'yargs';
import { commandLine } from '../common/command-line.js';
import { InputError, InterruptedError, NasError } from '../common/errors.js';
import { parseJsonText } from '../common/json-io.js';
import { createLogger, type Logger } from '../common/log.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { parseArchSpec } from '../search-space/archspec.js';
import { importBlockStrings } from '../search-space/block-strings.js';
import { withInput } from '../search-space/io.js';
import { isZooName, zooNames, zooSpec } from '../search-space/zoo/index.js';
import { asTheUserRunsIt } from './invocation.js';
import { interruptExitCode } from './progress.js';
import { nearest } from './usage-errors.js';

export interface GlobalOptions {
  verbose?: boolean;
  quiet?: boolean;
}

export interface CommandContext {
  log: Logger;
}

/** Wraps a command handler: builds the logger, turns errors into one line and an exit code. */
export function action<A>(handler: (args: ArgumentsCamelCase<A & GlobalOptions>, ctx: CommandContext) => Promise<void>) {
  return async (args: ArgumentsCamelCase<A & GlobalOptions>): Promise<void> => {
    const log = createLogger({ level: args.verbose ? 'debug' : args.quiet ? 'warn' : 'info' });
    try {
      await handler(args, { log });
    } catch (err) {
      reportError(err, Boolean(args.verbose));
    }
  };
}

export function reportError(err: unknown, verbose: boolean): void {
  if (err instanceof NasError) {
    process.stderr.write(`nas: ${asTheUserRunsIt(err.message)}\n`);
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof InterruptedError ? interruptExitCode() : err.exitCode;
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nas: internal error: ${message}${verbose ? '' : ' (run with --verbose for the stack trace)'}\n`);
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}

/** Writes one JSON value as the last line of stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * A spec argument: a zoo model name, an ArchSpec JSON file, or a block-string document;
 * `--resolution` / `--classes` adapt it.
 */
export function loadSpecArgument(arg: string, overrides: { resolution?: number | undefined; classes?: number | undefined } = {}): ArchSpec {
  if (!existsSync(arg) && isZooName(arg)) return zooSpec(arg, overrides);
  const spec = readSpecFile(arg);
  return overrides.resolution || overrides.classes ? withInput(spec, overrides, arg) : spec;
}

/** Reads a spec file: ArchSpec JSON, or a block-string document (timm / MnasNet style). */
export function readSpecFile(file: string): ArchSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR')
      throw new InputError(`${file}: a directory, not a spec file (ArchSpec JSON or a block-string document)`);
    const meant = nearest(file, zooNames());
    throw new InputError(
      `${file}: no such file, and not a zoo model name (${meant ? `did you mean ${meant}? ` : ''}see \`nas specs --list\`)`,
    );
  }
  if (/^\s*[{[]/.test(text)) return parseArchSpec(parseJsonText(text, file), file);
  return importBlockStrings(text, file, commandLine(['nas', 'convert', file]));
}

/** This command line as run records keep it: `nas` and the arguments given, each quoted where a shell needs it. */
export function givenCommand(): string {
  return commandLine(['nas', ...process.argv.slice(2)]);
}

export const specOverrideOptions = {
  resolution: { type: 'number', describe: 'input resolution (square)' },
  classes: { type: 'number', describe: 'number of classes of the classifier' },
} as const;

/**
 * A command's examples for yargs' `.example()`: what it does as a shell comment, then the command
 * line on a row of its own, written as the user runs it (`$0 train` reads `npx nas train` under
 * npx). (yargs' two columns would wrap a command line in half the width.)
 */
export function examples(list: [command: string, what: string][]): [string, string][] {
  return list.map(([command, what]) => [`# ${what}\n${asTheUserRunsIt(command.replace(/^\$0 /, 'nas '))}`, '']);
}
