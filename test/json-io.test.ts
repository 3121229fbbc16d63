import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { InputError, NasError } from '../src/common/errors.js';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../src/common/json-io.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-json-io-'));
const tmpFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

test('writeJsonAtomic then readJsonFile round-trips the value as pretty JSON', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'nested', 'value.json');
  const value = { a: 1, b: [true, null, 'x'], c: { d: -2.5e-3 } };
  await writeJsonAtomic(file, value);
  t.deepEqual(readJsonFile(file), value);
  t.is(readFileSync(file, 'utf8'), JSON.stringify(value, null, 2) + '\n');
  t.deepEqual(tmpFiles(path.dirname(file)), []);
});

test('writeFileAtomic replaces an existing file and leaves no temp file', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'x.bin');
  writeFileSync(file, 'old');
  await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
  t.deepEqual([...readFileSync(file)], [1, 2, 3]);
  t.deepEqual(readdirSync(dir), ['x.bin']);
});

test('concurrent writes to one file in the same millisecond do not share a temp file', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'same.json');
  await Promise.all(Array.from({ length: 8 }, (_, i) => writeJsonAtomic(file, { i })));
  const value = readJsonFile(file) as { i: number };
  t.true(value.i >= 0 && value.i < 8);
  t.deepEqual(readdirSync(dir), ['same.json']);
});

test('a failed write (the target directory is a file) throws a NasError naming the file and leaves no temp file', async (t) => {
  const dir = tmp();
  const blocker = path.join(dir, 'blocker');
  writeFileSync(blocker, 'not a directory');
  const file = path.join(blocker, 'out.json');
  const err = await t.throwsAsync(writeJsonAtomic(file, { a: 1 }), { instanceOf: NasError });
  t.true(err!.message.startsWith(`cannot write ${file} (`), err!.message);
  t.deepEqual(readdirSync(dir), ['blocker']);
  t.is(readFileSync(blocker, 'utf8'), 'not a directory');
});

test('readJsonFile on malformed JSON names the file, the line and the column', (t) => {
  const dir = tmp();
  const file = path.join(dir, 'bad.json');
  // The stray comma is at offset 13 of line 3: `  "b": 2,,` -> column 10.
  writeFileSync(file, '{\n  "a": 1,\n  "b": 2,,\n}\n');
  const err = t.throws(() => readJsonFile(file), { instanceOf: InputError });
  t.true(err!.message.startsWith(`${file}: not valid JSON at line 3, column 10 (`), err!.message);
});

test('readJsonFile reports an unterminated string at its end', (t) => {
  const dir = tmp();
  const file = path.join(dir, 'cut.json');
  writeFileSync(file, '["abc');
  const err = t.throws(() => readJsonFile(file), { instanceOf: InputError });
  t.regex(err!.message, /not valid JSON at line 1, column 6 \(/);
});

test('readJsonFile on a missing file says so', (t) => {
  const file = path.join(tmp(), 'missing.json');
  const err = t.throws(() => readJsonFile(file), { instanceOf: InputError });
  t.is(err!.message, `${file}: cannot read (no such file or directory)`);
});

test('a process that exits while a write is in flight leaves no temp file behind', (t) => {
  const dir = tmp();
  const moduleUrl = new URL('../src/common/json-io.js', import.meta.url).href;
  t.true(fileURLToPath(moduleUrl).endsWith(path.join('dist', 'src', 'common', 'json-io.js')));
  const script = `
    import { writeFileAtomic } from ${JSON.stringify(moduleUrl)};
    import { readdirSync } from 'node:fs';
    const file = ${JSON.stringify(path.join(dir, 'big.bin'))};
    const pending = writeFileAtomic(file, new Uint8Array(256 * 1024 * 1024));
    pending.catch(() => undefined);
    // As soon as the temp file exists (the write is under way), exit without awaiting the write.
    const poll = () => {
      const names = readdirSync(${JSON.stringify(dir)});
      if (names.some((f) => f.endsWith('.tmp'))) {
        console.log('exiting with ' + names.join(','));
        process.exit(0);
      }
      if (names.includes('big.bin')) {
        console.log('write finished first');
        process.exit(0);
      }
      setImmediate(poll);
    };
    poll();
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  t.is(child.status, 0, child.stderr);
  t.regex(child.stdout, /^exiting with \.big\.bin\..*\.tmp$/m, 'the child exits while its temp file exists');
  t.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
  t.false(readdirSync(dir).includes('big.bin'));
});
