/**
 * Usage errors in one line: the nearest known command or option when a word looks like a typo of
 * one (`nas serach`, `nas train --epoch 3`), options given without their value (`nas search
 * --budget`, which yargs drops without a word), numbers that are not, numbers out of their range
 * (flag-ranges.ts).
 */
import { rangeProblem } from './flag-ranges.js';

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The candidate a mistyped `word` most likely meant: at most one edit away for short words, two for longer ones. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  const limit = word.length <= 3 ? 1 : 2;
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Where on the command line a usage error happened: the command path, its subcommands and its options. */
export interface UsageContext {
  /** The command path, e.g. ['latency', 'validate']. */
  command: readonly string[];
  subcommands: readonly string[];
  options: readonly string[];
  /** The options that take a value (so the word after them is not a command or positional). */
  valueOptions: readonly string[];
  /** The declared value types of the options, and the allowed values of those that have a fixed set. */
  types: OptionTypes;
  /** The command's usage line, e.g. `$0 space describe <name>` (its positionals). */
  usage: string;
}

const UNKNOWN = /^Unknown arguments?: (.+)$/;
const NOT_ENOUGH = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/;
const MISSING_REQUIRED = /^Missing required arguments?: ([^\n]+)/;
const CHOOSE_COMMAND = 'choose a command';

/**
 * The one line `nas` prints for a usage error (without the leading `nas: `): unknown commands and
 * options with the nearest known one, other messages on one line, and the help to read.
 */
export function usageErrorLine(message: string, argv: readonly string[], context: UsageContext): string {
  const help = `(see ${['nas', ...context.command, '--help'].join(' ')})`;
  return `${describeProblem(message, argv, context)} ${help}`;
}

/**
 * What yargs' `message` is about, or what caused it: a mistyped subcommand, then a mistyped option
 * or a value outside its choices (before a required option they leave missing), then the rest.
 */
function describeProblem(message: string, argv: readonly string[], context: UsageContext): string {
  const unknown = UNKNOWN.exec(message);
  const notEnough = NOT_ENOUGH.exec(message);
  const noSubcommand = message === CHOOSE_COMMAND || notEnough || (unknown && !isKnownSubcommand(argv, context));
  if (context.subcommands.length && noSubcommand) return describeMissingCommand(argv, context);
  if (unknown) return describeUnknown(unknown[1]!.split(', '), argv, context);
  const typed = typedOptionProblem(argv, context);
  if (typed) return typed;
  if (notEnough) return describeMissingArguments(Number(notEnough[1]), context);
  const missing = MISSING_REQUIRED.exec(message);
  if (missing) return `missing ${asFlags(missing[1]!.split(', '))}`;
  return message.replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ');
}

/** Whether the word in the place of a subcommand is one (or absent). */
function isKnownSubcommand(argv: readonly string[], context: UsageContext): boolean {
  const typed = positionalWords(argv, context)[context.command.length];
  return typed === undefined || context.subcommands.includes(typed);
}

/** A command that needs a subcommand, given none or an unknown one: the word typed, what it may have meant, the choices. */
function describeMissingCommand(argv: readonly string[], context: UsageContext): string {
  const choices = context.subcommands.join(', ');
  const typed = positionalWords(argv, context)[context.command.length];
  if (typed === undefined) return `${CHOOSE_COMMAND}: ${choices}`;
  const meant = nearest(typed, context.subcommands);
  return `unknown command ${typed}: ${meant ? `did you mean ${meant}?` : `choose one of ${choices}`}`;
}

/**
 * The words of the command line that are neither options nor their values: the command path, then
 * positionals. The word after an unknown option is taken for its value (`--tabel default`: a
 * mistyped option's value, not a mistyped subcommand).
 */
function positionalWords(argv: readonly string[], context: UsageContext): string[] {
  const values = unknownOptionValues(argv, context);
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = /^--([^=]+)$/.exec(argv[i]!)?.[1];
    if (flag && context.valueOptions.includes(dashedName(flag))) i++;
    else if (!argv[i]!.startsWith('-') && !values.has(i)) words.push(argv[i]!);
  }
  return words;
}

/** Where the words that follow an unknown `--option` (without `=`) are on the command line. */
function unknownOptionValues(argv: readonly string[], context: UsageContext): Set<number> {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const values = new Set<number>();
  for (let i = 0; i + 1 < end; i++) {
    const flag = /^--([^=]+)$/.exec(argv[i]!)?.[1];
    if (flag && unknownOptions([argv[i]!], context.options).length && !argv[i + 1]!.startsWith('-')) values.add(i + 1);
  }
  return values;
}

/** The positionals of the usage line that were not given (`got` of them were). */
function describeMissingArguments(got: number, context: UsageContext): string {
  const required = context.usage.match(/<[^>]+>/g) ?? [];
  const missing = required.slice(got);
  return missing.length ? `missing ${missing.join(' ')}` : 'missing an argument';
}

/**
 * A mistyped option (in a command without subcommands, which knows all its options), an option
 * that takes a value negated, or a value outside an option's choices, found on the command line
 * whatever yargs stopped at first.
 */
function typedOptionProblem(argv: readonly string[], context: UsageContext): string | null {
  const unknown = context.subcommands.length ? [] : unknownOptions(argv, context.options);
  if (unknown.length) return describeUnknown(unknown, argv, context);
  return negatedValueProblem(argv, context.types) ?? choiceProblem(argv, context.types.choices);
}

/**
 * `--no-X` of an option that takes a value: yargs would set it to false, which a number option
 * reads as 0 (`--no-seed` is seed 0) and a string one passes on as a value.
 */
function negatedValueProblem(argv: readonly string[], types: OptionTypes): string | null {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  for (const word of argv.slice(0, end)) {
    const typed = /^--no-([^=]+)/.exec(word)?.[1];
    const name = typed && dashedName(typed);
    if (!typed || !name) continue;
    const allowed = types.choices[name];
    const value = types.number.includes(name) ? 'N' : allowed ? allowed.join('|') : types.string.includes(name) ? 'VALUE' : null;
    if (value) return `--no-${typed}: --${typed} takes a value; give --${typed} ${value} or leave it out`;
  }
  return null;
}

/** The names of the `--options` typed that the command does not have (as yargs names them: no dashes, no `no-`). */
function unknownOptions(argv: readonly string[], known: readonly string[]): string[] {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const names = argv
    .slice(0, end)
    .filter((a) => a.startsWith('--'))
    .map((a) => a.slice(2).split('=')[0]!.replace(/^no-/, ''));
  return names.filter((name) => !known.includes(name) && !known.includes(dashedName(name)));
}

/** The first option typed without a value or with one outside its choices: `--split foo: expected one of test, validation, train`. */
function choiceProblem(argv: readonly string[], choices: OptionTypes['choices']): string | null {
  for (const [name, allowed] of Object.entries(choices)) {
    if (flagIndex(argv, name) < 0) continue;
    const value = typedValue(argv, name);
    if (!value || value.startsWith('-')) return `--${name} needs a value`;
    if (!allowed.map(String).includes(value)) return `--${name} ${value}: expected one of ${allowed.join(', ')}`;
  }
  return null;
}

/** The typed form of each unknown argument yargs names, and what it likely meant. */
function describeUnknown(names: string[], argv: readonly string[], context: UsageContext): string {
  const options: string[] = [];
  const words: string[] = [];
  const typed = argv.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]!);
  const values = new Set([...unknownOptionValues(argv, context)].map((i) => argv[i]!));
  for (const name of names) {
    if (values.has(name)) continue;
    const flag = typed.find((a) => a.replace(/^--?(no-)?/, '') === name);
    if (flag) options.push(suggestOption(flag, context.options));
    else if (!typed.some((a) => camelCase(a.replace(/^--?(no-)?/, '')) === name)) words.push(name);
  }
  const parts: string[] = [];
  if (options.length) parts.push(`unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')}`);
  if (words.length && context.subcommands.length)
    parts.push(
      `unknown command${words.length > 1 ? 's' : ''} ${words.map((w) => withSuggestion(w, nearest(w, context.subcommands))).join(', ')}`,
    );
  else if (words.length) parts.push(`unexpected argument${words.length > 1 ? 's' : ''} ${words.join(', ')}`);
  return parts.join('; ');
}

function suggestOption(flag: string, known: readonly string[]): string {
  const negated = flag.startsWith('--no-');
  const name = flag.replace(/^--?(no-)?/, '');
  const match = nearest(name, known);
  return withSuggestion(flag, match && `--${negated ? 'no-' : ''}${match}`);
}

const asFlags = (names: readonly string[]) => names.map((name) => `--${name}`).join(', ');

const withSuggestion = (typed: string, suggestion: string | null) => (suggestion ? `${typed}: did you mean ${suggestion}?` : typed);

const camelCase = (dashed: string) => dashed.replace(/-+([a-z])/g, (_, c: string) => c.toUpperCase());

/** The dashed name of an option yargs also accepts in camel case (`finetuneSteps` is `finetune-steps`). */
const dashedName = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The declared value types of the options in force (yargs' getOptions()). */
export interface OptionTypes {
  number: readonly string[];
  string: readonly string[];
  /** The allowed values of the options that have a fixed set. */
  choices: Readonly<Record<string, readonly unknown[]>>;
}

/**
 * What is wrong with the values on the command line, if anything: an option that takes a value
 * negated (`--no-seed`) or given without one (last, or followed by another option), a number
 * option given something else or a number outside its range.
 */
export function valueProblem(argv: readonly string[], parsed: Record<string, unknown>, types: OptionTypes): string | null {
  const negated = negatedValueProblem(argv, types);
  if (negated) return negated;
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const takesValue = new Set([...types.number, ...types.string]);
  for (let i = 0; i < end; i++) {
    const typed = /^--([^=]+)$/.exec(argv[i]!)?.[1];
    const next = argv[i + 1];
    if (typed && takesValue.has(dashedName(typed)) && (i + 1 >= end || (next!.startsWith('-') && Number.isNaN(Number(next)))))
      return `--${typed} needs a value`;
  }
  for (const name of types.number) {
    const value = parsed[name];
    if (typeof value !== 'number') continue;
    if (Number.isNaN(value)) return `--${name}: expected a number, got ${typedValue(argv, name) ?? value}`;
    // Defaults are in range; only what was typed is checked.
    const problem = typedValue(argv, name) === undefined ? null : rangeProblem(name, value);
    if (problem) return problem;
  }
  return null;
}

/** The text given for `--name` (`--name text` or `--name=text`, the name dashed or in camel case). */
function typedValue(argv: readonly string[], name: string): string | undefined {
  const i = flagIndex(argv, name);
  if (i < 0) return undefined;
  return argv[i]!.includes('=') ? argv[i]!.slice(argv[i]!.indexOf('=') + 1) : argv[i + 1];
}

/** Where `--name` is typed (alone or as `--name=text`, the name dashed or in camel case), or -1. */
function flagIndex(argv: readonly string[], name: string): number {
  const forms = [`--${name}`, `--${camelCase(name)}`];
  return argv.findIndex((a) => forms.includes(a.split('=')[0]!));
}

/**
 * A yargs check refusing two boolean options given together (`--resume --force`): neither silently
 * wins. yargs' own conflicts() would also refuse `--resume --no-force`.
 */
export function exclusiveFlags(a: string, b: string): (parsed: Record<string, unknown>) => string | true {
  return (parsed) => (parsed[a] === true && parsed[b] === true ? `--${a} and --${b} contradict each other: give one of them` : true);
}
