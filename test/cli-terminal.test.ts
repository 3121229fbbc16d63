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
