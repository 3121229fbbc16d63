/** How the CLI talks to a person at a terminal (issue: logs become raw JSON when stdout is redirected). */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { NAS, nas } from './helpers/cli.js';

const run = promisify(execFile);

// `script` gives the command a pseudo-terminal for stdin/stdout/stderr; the redirect inside then
// points stdout at a file while stderr stays the terminal, as in `nas specs --json > out.json`.
test('logs stay human-readable on a terminal when stdout is redirected to a file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-terminal-'));
  const out = path.join(dir, 'out.json');
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(NAS)} specs --out ${JSON.stringify(path.join(dir, 'specs'))} --json > ${JSON.stringify(out)}`;
  const { stdout: terminal } = await run('script', ['-qec', command, '/dev/null']);
  t.regex(terminal, /INFO.*wrote specs/);
  t.notRegex(terminal, /"level":\s*30/);
  t.true(Array.isArray(JSON.parse(readFileSync(out, 'utf8'))), 'stdout still carries the JSON data');
});

test('nas train refuses an --out that already holds a run unless --resume or --force', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-train-out-'));
  mkdirSync(path.join(dir, 'checkpoint'));
  const res = await nas('train', '--arch', 'mobilenetv3-small-0.35', '--resolution', '32', '--epochs', '1', '--out', dir);
  t.is(res.code, 2);
  t.regex(res.stderr, /already holds a training run: continue it with --resume, start over with --force/);
  t.deepEqual(readdirSync(dir), ['checkpoint'], 'nothing in the directory was touched');
});

test('nas train on Fashion-MNIST trains a 224 px zoo spec at 32 px unless --resolution is given', async (t) => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'nas-train-res-')), 'run');
  const args = ['--arch', 'mobilenetv3-small-0.35', '--epochs', '1', '--train-samples', '64', '--validation-samples', '64'];
  const res = await nas('train', ...args, '--batch-size', '32', '--out', out, '--json');
  t.is(res.code, 0, res.stderr);
  t.regex(res.stderr, /training at 32x32, the size of fashion-mnist's images \(the spec says 224: pass --resolution 224/);
  const spec = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'spec.json'), 'utf8'));
  t.is(spec.input.resolution, 32);
});

const CLEAR_LINE_CODE = `${String.fromCharCode(27)}[2K`;

/** What a terminal shows of each row: the text after its last carriage return, without the clear-line code. */
function visibleRows(raw: string): string[] {
  // The terminal ends each row with \r\n; the carriage returns that matter come before.
  return raw.split('\n').map((row) => (row.replace(/\r$/, '').split('\r').pop() ?? '').replaceAll(CLEAR_LINE_CODE, ''));
}

test('log lines are written above the progress bar, never on its row', async (t) => {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'nas-bar-')), 'run');
  const args = ['train', '--arch', 'mobilenetv3-small-0.35', '--epochs', '2', '--train-samples', '256', '--validation-samples', '64'];
  const command = [process.execPath, NAS, ...args, '--out', out].map((a) => JSON.stringify(a)).join(' ');
  const { stdout: terminal } = await run('script', ['-qec', command, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' } });
  const rows = visibleRows(terminal);
  t.true(
    rows.some((row) => /INFO.*epoch 1\/2/.test(row)),
    'the epoch log line is on screen',
  );
  t.regex(terminal, /\[#*\.*\] epoch 2\/2/, 'the bar was drawn');
  // Erased once the closing log came: no bar drawn again below it.
  const closingLog = rows.map((row) => /INFO/.test(row)).lastIndexOf(true);
  t.deepEqual(
    rows.slice(closingLog).filter((row) => /ETA/.test(row)),
    [],
    'no bar below the closing log',
  );
  const shared = rows.filter((row) => /ETA/.test(row) && /INFO/.test(row));
  t.deepEqual(shared, [], 'no row holds both the bar and a log line');
});
