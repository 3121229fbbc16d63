/** Where commands write by default, and that what they print points at things a package user has. */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { TABLES_DIR } from '../src/latency-model/predict/load-table.js';
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
