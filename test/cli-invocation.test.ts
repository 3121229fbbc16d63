import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { commandLine, shellArg } from '../src/common/command-line.js';
import { PROJECT_ROOT } from '../src/common/version.js';

// Before the module reads it: as npx (npm exec) starts the CLI.
process.env.npm_command = 'exec';
const { asTheUserRunsIt } = await import('../src/cli/invocation.js');

test('under npx, the commands a message names are written as npx nas commands; other words are left alone', (t) => {
  t.is(
    asTheUserRunsIt('train it standalone: nas train --arch runs/a/best.json\ncontinue with nas search --resume runs/nas search'),
    'train it standalone: npx nas train --arch runs/a/best.json\ncontinue with npx nas search --resume runs/nas search',
  );
  t.is(asTheUserRunsIt('(see `nas specs --list`)'), '(see `npx nas specs --list`)');
  t.is(asTheUserRunsIt('did you mean search? (see nas --help)'), 'did you mean search? (see npx nas --help)');
  t.is(asTheUserRunsIt('the nas tool, runs/nas train, nas trainer'), 'the nas tool, runs/nas train, nas trainer');
});

test('commands printed for the user quote an argument only when a shell would split or expand it', (t) => {
  t.is(commandLine(['nas', 'train', '--out', 'runs/a-1/t_2.5', '--seed', 3]), 'nas train --out runs/a-1/t_2.5 --seed 3');
  t.is(commandLine(['nas', 'search', '--resume', '/tmp/x/with space/r']), "nas search --resume '/tmp/x/with space/r'");
  t.is(shellArg("it's"), "'it'\\''s'");
  t.is(shellArg(''), "''");
  t.is(shellArg('$HOME*'), "'$HOME*'");
  t.is(shellArg('=x'), "'=x'", 'zsh expands a word that starts with =');
});

test('given bin/nas.js itself, messages name commands as node bin/nas.js', async (t) => {
  const env = { ...process.env, npm_command: '' };
  const options = { cwd: PROJECT_ROOT, env };
  const typo = await promisify(execFile)(process.execPath, ['bin/nas.js', 'serach'], options).catch((err: { stderr: string }) => err);
  t.regex(typo.stderr, /^nas: unknown command serach: did you mean search\? \(see node bin\/nas\.js --help\)$/m);
});
