import path from 'node:path';
import { shellArg } from '../common/command-line.js';

/**
 * How the user runs this command line, for the commands it prints them to run next: `npx nas` when
 * npm started it (`npx nas`, `npm exec`: after `npm ci` there is no `nas` on the PATH), `node
 * bin/nas.js` when node was given the script itself, `nas` otherwise (the link named nas of a global
 * install or `npm link`).
 */
function invocation(): string {
  if (process.env.npm_command === 'exec') return 'npx nas';
  const script = process.argv[1];
  // A script in node_modules is another program's (a test runner's worker), not this command line.
  if (!script || path.extname(script) !== '.js' || script.split(path.sep).includes('node_modules')) return 'nas';
  const relative = path.relative(process.cwd(), script);
  return `node ${shellArg(relative.startsWith('..') ? script : relative)}`;
}

const INVOCATION = invocation();

const COMMANDS = 'convert|describe|eval|latency|netadapt|pipeline|profile|schema|search|space|specs|table|train|validate';
/** `nas <command>` (or `nas --help`) where a message names a command to run (not inside a word or a path). */
const COMMAND_LINE = new RegExp(`(^|[\\s\`'"(])nas (?=(?:${COMMANDS})\\b|--help\\b)`, 'g');

/** A message with every `nas <command>` in it written as the user runs it. */
export function asTheUserRunsIt(text: string): string {
  return INVOCATION === 'nas' ? text : text.replace(COMMAND_LINE, (_, before: string) => `${before}${INVOCATION} `);
}
