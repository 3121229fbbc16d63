/** Where commands write by default, and that what they print points at things a package user has. */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { TABLES_DIR } from '../src/latency-model/predict/load-table.js';
import { type OpDescriptor, opKey } from '../src/latency-model/predict/ops.js';
import { NAS } from './helpers/cli.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-outputs-'));

/** Runs `nas` in another directory, as a user of the installed package would. */
async function nasIn(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [NAS, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const OFA_YAML = `Conv-input:224x224x3-output:112x112x24:
  count: 500
  mean: 0.99
expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0:
  count: 50
  mean: 1.2
`;

test('nas table import writes <file name>.json in the current directory, not into the package, and says where', async (t) => {
  const dir = tmp();
  const name = `import-test-${process.pid}`;
  writeFileSync(path.join(dir, `${name}.yaml`), OFA_YAML);
  const run = await nasIn(dir, 'table', 'import', '--format', 'ofa', `${name}.yaml`);
  t.is(run.code, 0, run.stderr);
  t.true(existsSync(path.join(dir, `${name}.json`)));
  t.false(existsSync(path.join(TABLES_DIR, `${name}.json`)), 'nothing written into the package');
  t.regex(run.stdout, new RegExp(`wrote ${path.join(dir, name).replace(/[.\\/]/g, '\\$&')}\\.json: 2 entries`));
});

test('nas table import refuses to replace a table already at its output (its fitted estimator included) unless --force', async (t) => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'note.yaml'), OFA_YAML);
  const first = await nasIn(dir, 'table', 'import', '--format', 'ofa', 'note.yaml');
  t.is(first.code, 0, first.stderr);
  const out = path.join(dir, 'note.json');
  const fitted = `${JSON.stringify({ ...JSON.parse(readFileSync(out, 'utf8')), fittedHere: true })}\n`;
  writeFileSync(out, fitted);
  const again = await nasIn(dir, 'table', 'import', '--format', 'ofa', 'note.yaml');
  t.is(again.code, 2, again.stderr);
  t.regex(again.stderr, new RegExp(`^nas: ${out.replace(/[.\\/]/g, '\\$&')} already exists: give --force to replace it .*\\n$`));
  t.is(readFileSync(out, 'utf8'), fitted, 'the table is left as it was');
  const forced = await nasIn(dir, 'table', 'import', '--format', 'ofa', 'note.yaml', '--force');
  t.is(forced.code, 0, forced.stderr);
  t.false('fittedHere' in JSON.parse(readFileSync(out, 'utf8')));
});

test('nas profile --serve writes the posted table in the current directory by default and says so at start', async (t) => {
  const dir = tmp();
  const child = spawn(process.execPath, [NAS, 'profile', '--serve', '--arch', 'mobilenetv3-small-0.35', '--port', '0'], { cwd: dir });
  let stderr = '';
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/http:\/\/127\.0\.0\.1:\d+\//.test(stderr)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.on('exit', () => resolve(false));
  });
  child.kill('SIGTERM');
  t.true(started, stderr);
  const date = new Date().toISOString().slice(0, 10);
  t.true(stderr.includes(path.join(dir, `phone-${date}.json`)), stderr);
  t.false(stderr.includes(TABLES_DIR), stderr);
});

/** `nas profile --serve` in `dir`, its output so far, and a wait for a pattern in it. */
function serveIn(dir: string, ...args: string[]) {
  const child = spawn(process.execPath, [NAS, 'profile', '--serve', '--arch', 'mobilenetv3-small-0.35', '--port', '0', ...args], {
    cwd: dir,
  });
  const output = { stdout: '', stderr: '' };
  const waiters: (() => void)[] = [];
  for (const stream of ['stdout', 'stderr'] as const)
    child[stream].on('data', (chunk: Buffer) => {
      output[stream] += chunk.toString();
      for (const wake of waiters) wake();
    });
  const waitFor = (stream: 'stdout' | 'stderr', pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${stream}: ${output[stream]}`)), 60_000);
      const check = () => {
        const match = output[stream].match(pattern);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      };
      waiters.push(check);
      check();
    });
  const stop = () =>
    new Promise<void>((resolve) => (child.exitCode === null ? child.once('exit', () => resolve()).kill('SIGTERM') : resolve()));
  return { output, waitFor, stop };
}

test('nas profile --serve prints the link with its token on stdout (--quiet too), the QR code only on a terminal or with --qr, a progress line per upload when stdout is not a terminal, and continues after a restart', async (t) => {
  const dir = tmp();
  const first = serveIn(dir, '--quiet');
  let token = '';
  try {
    const url = (await first.waitFor('stdout', /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{24}$/m))[0];
    const job = (await (await fetch(new URL('/job', url))).json()) as { ops: OpDescriptor[] };
    const key = opKey(job.ops[0]!);
    token = new URL(url).searchParams.get('token')!;
    const headers = { 'content-type': 'application/json', 'x-profile-token': token, 'x-profile-session': 'c'.repeat(32) };
    const device = { userAgent: 'test', cores: 4, tfjsVersion: '4.22.0', backend: 'wasm', dispatchMs: 0.01, probeMs: 2 };
    const body = JSON.stringify({ device, entries: { [key]: { mean: 1, median: 1, std: 0, runs: 5 } } });
    t.is((await fetch(new URL('/partial', url), { method: 'POST', headers, body })).status, 200);
    await first.waitFor('stdout', new RegExp(`^phone: 1/${job.ops.length} ops, ETA \\?$`, 'm'));
    t.notRegex(first.output.stdout, /[▀▄█]/, 'no QR code when stdout is not a terminal');
  } finally {
    await first.stop();
  }
  const again = serveIn(dir, '--qr');
  try {
    await again.waitFor('stdout', /[▀▄█]{10}/);
    t.regex(
      again.output.stdout,
      new RegExp(`^http://127\\.0\\.0\\.1:\\d+/\\?token=${token}\n`),
      'the same link (its token) after a restart, above its QR code',
    );
    await again.waitFor('stderr', /resuming: 1 of \d+ ops was uploaded before/);
    await again.waitFor('stderr', /listens on 127\.0\.0\.1 only, which a phone cannot reach; for a phone, start it with --host 0\.0\.0\.0/);
  } finally {
    await again.stop();
  }
});

/** The string literals of a TypeScript source line, roughly: enough to find file names in messages. */
const literals = (line: string) => [...line.matchAll(/'[^']*'|"[^"]*"|`[^`]*`/g)].map((m) => m[0]);

test('no message, option description or error names a source file (src/..., *.ts) that a package user does not have', (t) => {
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/^\s*(\/\/|\*|\/\*|import |export .* from )/.test(line)) return;
            for (const literal of literals(line)) {
              // Messages are sentences: a literal with a space (a bare 'browser.ts' in a path.join is code).
              if (/\s/.test(literal) && /\bsrc\/|\.ts\b/.test(literal))
                offenders.push(`${path.relative(PROJECT_ROOT, file)}:${i + 1}: ${literal}`);
            }
          });
      }
    }
  };
  walk(path.join(PROJECT_ROOT, 'src'));
  t.deepEqual(offenders, []);
});
