/**
 * What `--help` tells a new user (issue 16, item 8): examples and defaults for every command,
 * only the options a command can use, words kept whole when lines wrap, and the nearest command
 * or option suggested on a typo.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { NAS, nas } from './helpers/cli.js';

const run = promisify(execFile);

const COMMANDS = [
  [],
  ['search'],
  ['specs'],
  ['describe'],
  ['validate'],
  ['convert'],
  ['train'],
  ['eval'],
  ['netadapt'],
  ['pipeline'],
  ['latency'],
  ['latency', 'validate'],
  ['profile'],
  ['table'],
  ['table', 'import'],
  ['table', 'fit'],
  ['space'],
  ['space', 'describe'],
  ['schema'],
];

/** `nas <command> --help` as a pipe sees it; `unwrapped`: yargs' own switch for one line per entry (YARGS_DISABLE_WRAP). */
async function help(command: string[], unwrapped = false): Promise<string> {
  const env = { ...process.env, ...(unwrapped ? { YARGS_DISABLE_WRAP: '1' } : {}) };
  const { stdout } = await run(process.execPath, [NAS, ...command, '--help'], { cwd: PROJECT_ROOT, env });
  return stdout;
}

/** Both renderings of every command's help, a few processes at a time. */
const pages = (async () => {
  const result = new Map<string, { wrapped: string; unwrapped: string }>();
  const queue = [...COMMANDS];
  const worker = async () => {
    for (let command = queue.shift(); command; command = queue.shift()) {
      result.set(command.join(' '), { wrapped: await help(command), unwrapped: await help(command, true) });
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return result;
})();

/** The option's line of an unwrapped help page. */
function optionLine(page: string, option: string): string {
  const line = page.split('\n').find((l) => new RegExp(`^\\s+--${option}\\s`).test(l));
  if (!line) throw new Error(`no --${option} in\n${page}`);
  return line;
}

test('every command has two or three examples: what it does, then a nas command line', async (t) => {
  for (const [command, { unwrapped }] of await pages) {
    const section = unwrapped.split('Examples:\n')[1];
    t.truthy(section, `nas ${command} --help has an Examples section`);
    const lines = (section ?? '')
      .split('\n\n')[0]!
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    t.true(lines.length >= 4 && lines.length <= 6 && lines.length % 2 === 0, `nas ${command}: ${lines.length / 2} examples`);
    for (let i = 0; i < lines.length; i += 2) {
      t.regex(lines[i]!, /^# \S/, `nas ${command}: ${lines[i]}`);
      t.regex(lines[i + 1]!, new RegExp(`^nas ${command}`), `nas ${command}: ${lines[i + 1]}`);
    }
  }
  // Run as node bin/nas.js (a checkout without a global link), the examples read that way.
  const { stdout } = await run(process.execPath, ['bin/nas.js', 'train', '--help'], { cwd: PROJECT_ROOT });
  t.regex(stdout, /^\s+node bin\/nas\.js train --arch /m);
  t.notRegex(stdout, /^\s+nas train/m);
});

test('lines wrap between words: the wrapped help holds the same words as the unwrapped one', async (t) => {
  const words = (text: string) => text.split(/\s+/).filter(Boolean).sort();
  for (const [command, { wrapped, unwrapped }] of await pages) {
    t.deepEqual(words(wrapped), words(unwrapped), `nas ${command} --help`);
    const widest = Math.max(...wrapped.split('\n').map((l) => l.length));
    t.true(widest <= 110, `nas ${command} --help: a line of ${widest} characters`);
    t.false(unwrapped.includes('[default: []]'), `nas ${command} --help shows no empty default`);
  }
});

test('nas train --help shows the training defaults; search and netadapt say where theirs come from', async (t) => {
  const all = await pages;
  const train = all.get('train')!.unwrapped;
  t.regex(optionLine(train, 'epochs'), /\[default: 10\]/);
  t.regex(optionLine(train, 'batch-size'), /\[default: 32\]/);
  t.regex(optionLine(train, 'lr'), /\[default: 0\.05 with sgd, 0\.001 with rmsprop\]/);
  t.regex(optionLine(train, 'optimizer'), /\[default: sgd\]/);
  t.regex(optionLine(train, 'seed'), /\[default: 0\]/);
  t.regex(optionLine(train, 'warmup-epochs'), /\[default: 0\.5\]/);
  t.regex(optionLine(train, 'schedule'), /\[default: cosine\]/);
  t.regex(optionLine(train, 'momentum'), /\[default: 0\.9\]/);
  t.regex(optionLine(train, 'weight-decay'), /\[default: 0\.00004\]/);
  t.regex(optionLine(train, 'label-smoothing'), /\[default: 0\.1\]/);
  t.regex(optionLine(train, 'augment'), /\[default: on\]/);
  const search = all.get('search')!.unwrapped;
  t.regex(optionLine(search, 'budget'), /\[default: the experiment's \(1000 in experiments\/default\.json\)\]/);
  t.regex(optionLine(search, 'algorithm'), /\[default: the experiment's \(reinforce in experiments\/default\.json\)\]/);
  t.regex(optionLine(search, 'parallel'), /\[default: the experiment's \(1 in experiments\/default\.json\)\]/);
  t.regex(optionLine(all.get('netadapt')!.unwrapped, 'lr'), /\[default: 0\.01\]/);
  // A resume takes the run's own settings: the defaults are a new run's, not yargs' (which would look given).
  t.regex(optionLine(all.get('netadapt')!.unwrapped, 'finetune-steps'), /\[default: 100\]/);
  t.regex(optionLine(all.get('netadapt')!.unwrapped, 'table'), /\[default: the one the seed's provenance\.deployment names/);
});

test('nas latency validate lists its own options once, not the ones of nas latency', async (t) => {
  const page = (await pages).get('latency validate')!.unwrapped;
  t.is(page.split('\n').filter((l) => /^\s+--backend\s/.test(l)).length, 1);
  t.regex(optionLine(page, 'backend'), /\[choices: "auto", "tensorflow", "wasm", "cpu"\] \[default: "auto"\]$/);
  for (const option of ['arch', 'breakdown', 'interpolate', 'measure', 'resolution', 'classes'])
    t.false(new RegExp(`^\\s+--${option}\\s`, 'm').test(page), `--${option} is not an option of nas latency validate`);
  const res = await nas('latency', 'validate', '--arch', 'mobilenetv3-small-1.0');
  t.is(res.code, 2);
  t.regex(res.stderr, /^nas: unknown option --arch \(see nas latency validate --help\)\n$/);
});

test('nas space describe --help lists the spaces it describes, not the zoo spaces that are for profiling', async (t) => {
  const line = (await pages)
    .get('space describe')!
    .unwrapped.split('\n')
    .find((l) => /^\s+name\s/.test(l))!;
  t.regex(line, /\bmobilenetv3, .*or a search-space file/);
  t.notRegex(line, /\bzoo\b|zoo-neighbourhood/);
});

test('a mistyped command or option exits 2 with one line naming the nearest one', async (t) => {
  const cases: [string[], RegExp][] = [
    [['serach'], /^nas: unknown command serach: did you mean search\? \(see nas --help\)\n$/],
    [['latency', 'valdate'], /^nas: unknown command valdate: did you mean validate\? \(see nas latency --help\)\n$/],
    [
      ['train', '--arch', 'mobilenetv3-small-0.35', '--out', 'x', '--epoch', '3'],
      /^nas: unknown option --epoch: did you mean --epochs\? \(see nas train --help\)\n$/,
    ],
    [
      ['latency', 'validate', '--sampels', '5'],
      /^nas: unknown option --sampels: did you mean --samples\? \(see nas latency validate --help\)\n$/,
    ],
    [
      ['search', '--budgt=3', '--seeds', '1'],
      /^nas: unknown options --budgt: did you mean --budget\?, --seeds: did you mean --seed\? \(see nas search --help\)\n$/,
    ],
    [['specs', '--bogus'], /^nas: unknown option --bogus \(see nas specs --help\)\n$/],
    [['space'], /^nas: choose a command: describe \(see nas space --help\)\n$/],
    [['table'], /^nas: choose a command: import, fit \(see nas table --help\)\n$/],
    [['table', 'fitt'], /^nas: unknown command fitt: did you mean fit\? \(see nas table --help\)\n$/],
    [['table', 'bogus'], /^nas: unknown command bogus: choose one of import, fit \(see nas table --help\)\n$/],
    [['space', 'describe'], /^nas: missing <name> \(see nas space describe --help\)\n$/],
  ];
  for (const [args, expected] of cases) {
    const res = await nas(...args);
    t.is(res.code, 2, `nas ${args.join(' ')}`);
    t.regex(res.stderr, expected, `nas ${args.join(' ')}`);
  }
});

/** Runs each command line and checks it exits 2 with the one line expected. */
async function usageErrors(t: ExecutionContext, cases: [string[], RegExp][]): Promise<void> {
  for (const [args, expected] of cases) {
    const res = await nas(...args);
    t.is(res.code, 2, `nas ${args.join(' ')}`);
    t.regex(res.stderr, expected, `nas ${args.join(' ')}`);
  }
}

test('a mistyped required option is named with the nearest one, not reported as missing', async (t) => {
  await usageErrors(t, [
    [
      ['train', '--arhc', 'mobilenetv3-small-0.5', '--out', 'x'],
      /^nas: unknown option --arhc: did you mean --arch\? \(see nas train --help\)\n$/,
    ],
    [['eval', '--chekpoint', 'D'], /^nas: unknown option --chekpoint: did you mean --checkpoint\? \(see nas eval --help\)\n$/],
    [
      ['convert', 'mobilenetv3-large-1.0', '--too', 'timm'],
      /^nas: unknown option --too: did you mean --to\? \(see nas convert --help\)\n$/,
    ],
    [['convert', '--too', 'timm'], /^nas: unknown option --too: did you mean --to\? \(see nas convert --help\)\n$/],
    [
      ['netadapt', '--chekpoint', 'D', '--target-ratio', '0.9', '--out', 'y'],
      /^nas: unknown option --chekpoint: did you mean --checkpoint\? \(see nas netadapt --help\)\n$/,
    ],
    [['train', '--out', 'x'], /^nas: missing --arch \(only --resume takes the spec from the run in --out\) \(see nas train --help\)\n$/],
    [['eval'], /^nas: missing --checkpoint \(see nas eval --help\)\n$/],
    [['train', '--arch', 'mobilenetv3-small-0.5', '--outDir', 'x'], /^nas: unknown option --outDir \(see nas train --help\)\n$/],
  ]);
});

test('a mistyped subcommand is named with the nearest one, whatever follows it', async (t) => {
  await usageErrors(t, [
    [['space', 'describ', 'mobilenetv3'], /^nas: unknown command describ: did you mean describe\? \(see nas space --help\)\n$/],
    [['latency', 'validat', 'x'], /^nas: unknown command validat: did you mean validate\? \(see nas latency --help\)\n$/],
    [['table', 'improt', 'x.yaml'], /^nas: unknown command improt: did you mean import\? \(see nas table --help\)\n$/],
    [['table', 'bogus', 'x'], /^nas: unknown command bogus: choose one of import, fit \(see nas table --help\)\n$/],
    [['table', '--verbose', 'fitt'], /^nas: unknown command fitt: did you mean fit\? \(see nas table --help\)\n$/],
    // An option's value is not a subcommand.
    [
      ['latency', '--arch', 'mobilenetv3-small-1.0', '--backend', 'wasm', '--bogus'],
      /^nas: unknown option --bogus \(see nas latency --help\)\n$/,
    ],
    // Nor is the value of a mistyped option.
    [
      ['latency', '--arch', 'mobilenetv3-small-1.0', '--tabel', 'default'],
      /^nas: unknown option --tabel: did you mean --table\? \(see nas latency --help\)\n$/,
    ],
    [['table', '--formt', 'ofa', 'improt', 'x.yaml'], /^nas: unknown command improt: did you mean import\? \(see nas table --help\)\n$/],
  ]);
});

test("a value that is not one of an option's choices is named with the choices", async (t) => {
  await usageErrors(t, [
    [['search', '--algorithm', 'foo'], /^nas: --algorithm foo: expected one of ppo, reinforce, random \(see nas search --help\)\n$/],
    [
      ['eval', '--checkpoint', 'D', '--split', 'foo'],
      /^nas: --split foo: expected one of test, validation, train \(see nas eval --help\)\n$/,
    ],
    // Before the required options it lacks.
    [['eval', '--split=foo'], /^nas: --split foo: expected one of test, validation, train \(see nas eval --help\)\n$/],
    [['netadapt', '--metric', 'foo'], /^nas: --metric foo: expected one of ratio, accuracy \(see nas netadapt --help\)\n$/],
    [['search', '--algorithm'], /^nas: --algorithm needs a value \(see nas search --help\)\n$/],
    [['search', '--algorithm', '--seed', '3'], /^nas: --algorithm needs a value \(see nas search --help\)\n$/],
    [['convert', 'mobilenetv3-large-1.0', '--to'], /^nas: --to needs a value \(see nas convert --help\)\n$/],
    [
      ['latency', '--arch', 'mobilenetv3-small-1.0', '--backend', 'gpu'],
      /^nas: --backend gpu: expected one of auto, tensorflow, wasm, cpu \(see nas latency --help\)\n$/,
    ],
  ]);
});

test('an option given without its value, or a number option given something else, exits 2 before any work', async (t) => {
  // Without the check, `nas search --budget` ran the whole default search (the option was dropped);
  // the missing experiment file here makes such a run fail fast instead.
  const cases: [string[], RegExp][] = [
    [['search', '--experiment', 'nope.json', '--budget'], /^nas: --budget needs a value \(see nas search --help\)\n$/],
    [['search', '--experiment', 'nope.json', '--seed', '--budget', '3'], /^nas: --seed needs a value \(see nas search --help\)\n$/],
    [
      ['train', '--arch', 'nope.json', '--out', 'x', '--epochs', 'ten'],
      /^nas: --epochs: expected a number, got ten \(see nas train --help\)\n$/,
    ],
    [['train', '--arch', 'nope.json', '--out'], /^nas: --out needs a value \(see nas train --help\)\n$/],
  ];
  for (const [args, expected] of cases) {
    const res = await nas(...args);
    t.is(res.code, 2, `nas ${args.join(' ')}`);
    t.regex(res.stderr, expected, `nas ${args.join(' ')}`);
  }
  const negative = await nas('train', '--arch', 'nope.json', '--out', 'x', '--seed', '-1', '--lr', '0.1');
  t.regex(negative.stderr, /^nas: --seed -1: give a whole number, 0 or more/, 'a negative number is a value, checked for its range');
});

test('--no-X of an option that takes a value is refused, not read as 0 or false (exit 2)', async (t) => {
  // --no-lr reached the training schema as 0; --no-seed searched with seed 0; --no-arch crashed.
  await usageErrors(t, [
    [
      ['train', '--arch', 'nope.json', '--out', 'x', '--no-lr'],
      /^nas: --no-lr: --lr takes a value; give --lr N or leave it out \(see nas train --help\)\n$/,
    ],
    [['search', '--experiment', 'nope.json', '--no-seed'], /^nas: --no-seed: --seed takes a value; give --seed N or leave it out \(/],
    [
      ['search', '--no-algorithm'],
      /^nas: --no-algorithm: --algorithm takes a value; give --algorithm ppo\|reinforce\|random or leave it out \(/,
    ],
    [['profile', '--no-arch', '--out', 'x'], /^nas: --no-arch: --arch takes a value; give --arch VALUE or leave it out \(/],
  ]);
});

test('flags that contradict each other are refused, not settled by one winning silently (exit 2)', async (t) => {
  await usageErrors(t, [
    [
      ['specs', '--list', '--quiet', '--verbose'],
      /^nas: --quiet and --verbose contradict each other: give one of them \(see nas specs --help\)\n$/,
    ],
    [
      ['train', '--out', 'x', '--resume', '--force'],
      /^nas: --resume and --force contradict each other: give one of them \(see nas train --help\)\n$/,
    ],
    [['latency', 'validate', '--resume', '--force'], /^nas: --resume and --force contradict each other: give one of them \(/],
  ]);
  const negated = await nas('specs', '--list', '--no-quiet', '--verbose');
  t.is(negated.code, 0, 'a flag negated does not contradict the other');
});

test('a number out of its range is refused naming the flag and what to give, before any work (exit 2)', async (t) => {
  // Each once reached a schema that named an internal field, or code that failed without a word.
  const cases: [string[], RegExp][] = [
    [
      ['netadapt', '--checkpoint', 'nope', '--out', 'x', '--target-ratio', '0.8', '--parallel', '0'],
      /--parallel 0: give a whole number, 1 or more/,
    ],
    [
      ['netadapt', '--checkpoint', 'nope', '--out', 'x', '--target-ratio', '0.8', '--finetune-steps', '0'],
      /--finetune-steps 0: give a whole number, 1 or more/,
    ],
    [['latency', 'validate', '--samples', '0'], /--samples 0: give a whole number, 1 or more/],
    [['search', '--budget', '2.5'], /--budget 2\.5: give a whole number, 1 or more/],
    [['train', '--arch', 'nope.json', '--out', 'x', '--batch-size', '0'], /--batch-size 0: give a whole number from 1 to 4096/],
    [
      ['train', '--arch', 'mobilenetv3-small-0.5', '--out', 'x', '--resolution', '7'],
      /--resolution 7: give a whole number of pixels, 8 or more/,
    ],
    [['profile', '--serve', '--port', '70000'], /--port 70000: give a port number from 0 to 65535 \(0: any free port\)/],
    [['latency', 'validate', '--min-speed', '2'], /--min-speed 2: give a number above 0, at most 1/],
    // yargs takes the camel-case spelling of an option too: it is checked as well.
    [['train', '--arch', 'nope.json', '--out', 'x', '--batchSize', '0'], /--batch-size 0: give a whole number from 1 to 4096/],
    [['train', '--arch', 'nope.json', '--out', 'x', '--batchSize'], /--batchSize needs a value/],
  ];
  for (const [args, expected] of cases) {
    const res = await nas(...args);
    t.is(res.code, 2, `nas ${args.join(' ')}`);
    t.regex(res.stderr, new RegExp(`^nas: ${expected.source} \\(see nas ${args[0]}`), `nas ${args.join(' ')}`);
  }
});

test('help pages and usage errors load neither tfjs nor SQLite: only the command that runs loads what it needs', async (t) => {
  // Hooks in the child report every package it resolves: imported (a module hook), or required (tfjs is).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nas-imports-'));
  const report = "if (!specifier.startsWith('.') && !specifier.startsWith('node:')) process.stderr.write('resolved ' + specifier + '\\n');";
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) { ${report} return next(specifier, context); }\n`,
  );
  writeFileSync(path.join(dir, 'register.mjs'), "import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);\n");
  writeFileSync(
    path.join(dir, 'require-hook.cjs'),
    `const Module = require('node:module'); const load = Module._load; Module._load = function (specifier, ...rest) { ${report} return load.call(this, specifier, ...rest); };\n`,
  );
  const hooks = ['--require', path.join(dir, 'require-hook.cjs'), '--import', path.join(dir, 'register.mjs')];
  const packages = async (...args: string[]) => {
    const child = await run(process.execPath, [...hooks, NAS, ...args], { cwd: PROJECT_ROOT }).catch((err: { stderr: string }) => err);
    return new Set([...child.stderr.matchAll(/^resolved (\S+)$/gm)].map((m) => m[1]!));
  };
  for (const args of [['--help'], ['search', '--help'], ['train', '--help'], ['serach'], ['latency', 'validate', '--sampels', '5']]) {
    const resolved = await packages(...args);
    t.true(resolved.has('yargs/helpers'), `the hook reports packages (nas ${args.join(' ')})`);
    t.deepEqual(
      [...resolved].filter((p) => /tensorflow|sqlite/.test(p)),
      [],
      `nas ${args.join(' ')}`,
    );
  }
  t.true(
    [...(await packages('eval', '--checkpoint', 'no-such-run'))].some((p) => p === '@tensorflow/tfjs'),
    'nas eval loads tfjs (the hooks see it)',
  );
});

test('an option given twice takes its last value; a list option (nas profile --arch) keeps every value', async (t) => {
  const twice = await nas(
    'latency',
    '--arch',
    'mobilenetv3-small-1.0',
    '--arch',
    'mobilenetv3-large-1.0',
    '--resolution',
    '96',
    '--resolution',
    '224',
    '--json',
  );
  const once = await nas('latency', '--arch', 'mobilenetv3-large-1.0', '--resolution', '224', '--json');
  t.is(twice.code, 0, twice.stderr);
  t.deepEqual(JSON.parse(twice.stdout), JSON.parse(once.stdout));
  const outOfRangeLast = await nas('search', '--budget', '5', '--budget', '0');
  t.regex(outOfRangeLast.stderr, /^nas: --budget 0: give a whole number, 1 or more/);
  // The unknown model is the first of two: a list keeps it.
  const list = await nas(
    'profile',
    '--arch',
    'mobilenetv9',
    '--arch',
    'mobilenetv3-small-1.0',
    '--out',
    path.join(os.tmpdir(), 'never.json'),
  );
  t.is(list.code, 2);
  t.regex(list.stderr, /mobilenetv9: no such file/);
});
