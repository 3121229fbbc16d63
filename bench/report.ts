/** Shared by the benchmarks: command-line arguments and results/bench.md sections. */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic, writeJsonAtomic } from '../src/common/json-io.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';

export const BENCH_MD = path.join(PROJECT_ROOT, 'results', 'bench.md');

const lastLine = (output: string) => output.trim().split('\n').pop()!;

const nasArgv = (command: string, args: readonly string[]) => [path.join(PROJECT_ROOT, 'bin', 'nas.js'), command, ...args, '--json'];

/** Runs `nas COMMAND ARGS --json` in a child process and waits for it: stdout captured, stderr captured or shown as it comes. */
export function runNasJson(command: string, args: readonly string[], stderr: 'pipe' | 'inherit'): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, nasArgv(command, args), { stdio: ['ignore', 'pipe', stderr], encoding: 'utf8' });
}

/**
 * runNasJson with stderr shown as it comes (a long job's progress), also measuring the child's CPU
 * seconds (user + system): GNU time runs it and writes them to a file of its own (NaN when the
 * child failed before time could).
 */
export function runNasJsonTimed(command: string, args: readonly string[]): { child: SpawnSyncReturns<string>; cpuSeconds: number } {
  const timeDir = mkdtempSync(path.join(os.tmpdir(), 'nas-time-'));
  const timeFile = path.join(timeDir, 'cpu-seconds');
  try {
    const child = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%U %S', process.execPath, ...nasArgv(command, args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    const [user, system] = existsSync(timeFile) ? lastLine(readFileSync(timeFile, 'utf8')).split(' ').map(Number) : [Number.NaN, 0];
    return { child, cpuSeconds: user! + system! };
  } finally {
    rmSync(timeDir, { recursive: true, force: true });
  }
}

/** The summary a `--json` command prints as its last line of stdout. */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(lastLine(stdout)) as T;
}

/**
 * A benchmark's command line: `--name value` options (the values here are their defaults) and
 * boolean `--flag`s. `--help` prints the usage and exits 0; an unknown option or a missing value
 * exits 2 with the usage, so a typo never starts hours of work with the defaults.
 */
export function benchArguments<O extends string, F extends string = never>(
  defaults: Record<O, string>,
  flags: readonly F[] = [],
): Record<O, string> & Record<F, boolean> {
  const usage = usageLine(defaults, flags);
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const name of Object.keys(defaults)) options[name] = { type: 'string' };
  for (const name of flags) options[name] = { type: 'boolean' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options, strict: true, allowPositionals: false }));
  } catch (error) {
    badArgument((error as Error).message, usage);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const parsed: Record<string, string | boolean> = {};
  for (const [name, fallback] of Object.entries<string>(defaults)) parsed[name] = (values[name] as string | undefined) ?? fallback;
  for (const name of flags) parsed[name] = values[name] === true;
  return parsed as Record<O, string> & Record<F, boolean>;
}

/** A comma-separated list of numbers from a bench option; anything else exits 2 naming the option. */
export function numbersArgument(args: Record<string, string | boolean>, name: string): number[] {
  const text = String(args[name]);
  const numbers = text.split(',').map((part) => Number(part.trim()));
  if (text.trim() === '' || numbers.some(Number.isNaN))
    badArgument(`--${name} expects a number or a comma-separated list of numbers, got '${text}'`);
  return numbers;
}

/** One number from a bench option; anything else exits 2 naming the option. */
export function numberArgument(args: Record<string, string | boolean>, name: string): number {
  const numbers = numbersArgument(args, name);
  if (numbers.length !== 1) badArgument(`--${name} expects one number, got '${String(args[name])}'`);
  return numbers[0]!;
}

function usageLine(defaults: Record<string, string>, flags: readonly string[]): string {
  const shown = (fallback: string) =>
    fallback === '' ? 'VALUE' : path.isAbsolute(fallback) ? path.relative(process.cwd(), fallback) : fallback;
  const options = Object.entries(defaults).map(([name, fallback]) => `[--${name} ${shown(fallback)}]`);
  return `usage: node ${path.relative(process.cwd(), process.argv[1] ?? 'bench')} ${[...options, ...flags.map((f) => `[--${f}]`)].join(' ')}`;
}

/** Exits 2 with the bench's name and `message` (a bad option or combination of options). */
export function badArgument(message: string, usage?: string): never {
  process.stderr.write(`${path.basename(process.argv[1] ?? 'bench')}: ${message}${usage ? `\n${usage}` : ''}\n`);
  process.exit(2);
}

/** The machine a benchmark ran on, as its JSON record states it. */
export function benchMachine(): { cores: number; cpu: string; node: string } {
  return { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', node: process.version };
}

/** The same for a report's prose: "2 cores (AMD EPYC 7B13), Node v20.20.0". */
export function machineText(): string {
  const { cores, cpu, node } = benchMachine();
  return `${cores} cores (${cpu}), Node ${node}`;
}

/** The command that ran this benchmark, as a reader would type it again. */
export function benchCommand(): string {
  const script = path.relative(PROJECT_ROOT, process.argv[1] ?? 'bench');
  return ['node', script, ...process.argv.slice(2)].join(' ');
}

/**
 * Writes a benchmark's JSON record atomically: schema version, kind, tool, command, date and
 * machine, then the benchmark's own `fields` (which may refine `command` or `machine`).
 */
export async function writeBenchRecord(file: string, kind: string, fields: Record<string, unknown>): Promise<void> {
  const header = {
    schemaVersion: 1,
    kind,
    tool: TOOL_NAME,
    command: benchCommand(),
    date: new Date().toISOString(),
    machine: benchMachine(),
  };
  await writeJsonAtomic(file, { ...header, ...fields });
}

/** Replaces (or appends) the `## heading` section of a markdown file, keeping the others. */
export async function writeSection(section: string, file = BENCH_MD): Promise<void> {
  const heading = section.split('\n')[0]!;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(`${heading}\n`);
  const end = start < 0 ? -1 : current.indexOf('\n## ', start + heading.length);
  const updated =
    start < 0
      ? `${current.trimEnd()}\n\n${section}`
      : `${current.slice(0, start)}${section.trimEnd()}\n${end >= 0 ? current.slice(end) : ''}`;
  await writeFileAtomic(file, updated.endsWith('\n') ? updated : `${updated}\n`);
}
