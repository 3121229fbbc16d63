/**
 * How the user runs this command line, for the commands it prints them to run next: `npx nas` when
 * npm started it (`npx nas`, `npm exec`: after `npm ci` there is no `nas` on the PATH), `nas`
 * otherwise (a global install or `npm link`).
 */
const INVOCATION = process.env.npm_command === 'exec' ? 'npx nas' : 'nas';

const COMMANDS = 'convert|describe|eval|latency|netadapt|pipeline|profile|schema|search|space|specs|table|train|validate';
/** `nas <command>` (or `nas --help`) where a message names a command to run (not inside a word or a path). */
const COMMAND_LINE = new RegExp(`(^|[\\s\`'"(])nas (?=(?:${COMMANDS})\\b|--help\\b)`, 'g');

/** A message with every `nas <command>` in it written as the user runs it. */
export function asTheUserRunsIt(text: string): string {
  return INVOCATION === 'nas' ? text : text.replace(COMMAND_LINE, `$1${INVOCATION} `);
}
