import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { InputError } from '../src/common/errors.js';
import {
  LOCK_STALE_AFTER_MS,
  type LockOwner,
  lockRunDir,
  RUN_LOCK_FILE,
  RunDirInUseError,
  runDirOwner,
  takeOver,
  withRunLock,
} from '../src/common/run-lock.js';
import { nas } from './helpers/cli.js';

const LOCK_MODULE = new URL('../src/common/run-lock.js', import.meta.url).href;

/** Another process that takes `dir`'s lock and holds it until it is killed; resolves once it holds it. */
async function holder(dir: string): Promise<ChildProcess> {
  const script = `import { lockRunDir } from ${JSON.stringify(LOCK_MODULE)}; lockRunDir(process.argv[1], 'test holder'); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`the holder exited with ${code}`)));
  });
  return child;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill(signal);
  await exited;
}

const tempDir = () => mkdtempSync(path.join(os.tmpdir(), 'nas-lock-'));

test('a directory another live process holds is refused, naming that process; once it is killed -9 the lock is taken over', async (t) => {
  const dir = path.join(tempDir(), 'run');
  const child = await holder(dir);
  try {
    t.is(runDirOwner(dir)?.pid, child.pid);
    const error = t.throws(() => lockRunDir(dir, 'second'), { instanceOf: RunDirInUseError });
    t.true(error instanceof InputError, 'exit code 2');
    t.regex(error!.message, new RegExp(`in use by process ${child.pid} \\(test holder, since `));
  } finally {
    await kill(child, 'SIGKILL');
  }
  t.true(existsSync(path.join(dir, RUN_LOCK_FILE)), 'kill -9 leaves the lock file');
  t.is(runDirOwner(dir), null);
  const lock = lockRunDir(dir, 'after the holder died');
  lock.release();
  t.false(existsSync(path.join(dir, RUN_LOCK_FILE)));
});

test('of two processes that found the same dead lock, the second to take it over finds the first one holding it and loses', async (t) => {
  const dir = path.join(tempDir(), 'run');
  const file = path.join(dir, RUN_LOCK_FILE);
  await kill(await holder(dir), 'SIGKILL');
  const dead = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  const first = await holder(dir);
  try {
    const late: LockOwner = { ...dead, pid: process.pid, what: 'late', since: new Date().toISOString() };
    t.false(takeOver(file, dead, late), 'the dead lock was already taken over');
    t.is(runDirOwner(dir)?.pid, first.pid, 'the first taker still holds the lock');
    t.deepEqual(readdirSync(dir), [RUN_LOCK_FILE], 'no draft or guard left');
  } finally {
    await kill(first, 'SIGKILL');
  }
  const stillDead = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  const me: LockOwner = { ...stillDead, pid: process.pid, what: 'me', since: new Date().toISOString() };
  t.true(takeOver(file, stillDead, me), "a lock still the dead owner's is taken");
  t.is(JSON.parse(readFileSync(file, 'utf8')).what, 'me');
});

test("a takeover under way (its guard's owner alive) turns a second taker away; a guard whose owner died is taken", async (t) => {
  const dir = path.join(tempDir(), 'run');
  const file = path.join(dir, RUN_LOCK_FILE);
  await kill(await holder(dir), 'SIGKILL');
  const dead = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  const me: LockOwner = { ...dead, pid: process.pid, what: 'me', since: new Date().toISOString() };
  const guard = `${file}.takeover`;
  const taker = await holder(path.join(dir, 'elsewhere'));
  try {
    writeFileSync(guard, JSON.stringify({ ...dead, pid: taker.pid, what: 'taker' }));
    t.false(takeOver(file, dead, me), 'another live process is taking the lock over');
    t.deepEqual(JSON.parse(readFileSync(file, 'utf8')), dead, 'the dead lock is still in place, for the taker to replace');
  } finally {
    await kill(taker, 'SIGKILL');
  }
  t.true(takeOver(file, dead, me), 'the guard of a taker that died is no obstacle');
  t.is(JSON.parse(readFileSync(file, 'utf8')).what, 'me');
  t.false(existsSync(guard), 'the guard is removed once the lock is taken');
});

test("another host's lock is live while it is marked alive, and taken over once unmarked for LOCK_STALE_AFTER_MS", (t) => {
  const dir = path.join(tempDir(), 'run');
  const file = path.join(dir, RUN_LOCK_FILE);
  mkdirSync(dir);
  const remote: LockOwner = { pid: 4242, thread: 0, host: 'another-host', what: 'remote job', since: new Date().toISOString() };
  writeFileSync(file, JSON.stringify(remote));
  const markedAgo = (ms: number) => utimesSync(file, new Date(Date.now() - ms), new Date(Date.now() - ms));

  markedAgo(LOCK_STALE_AFTER_MS - 60_000);
  t.is(runDirOwner(dir)?.host, 'another-host');
  const error = t.throws(() => lockRunDir(dir, 'here'), { instanceOf: RunDirInUseError });
  t.regex(error!.message, /in use by process 4242 on another-host, alive 54\d s ago \(remote job, since /);
  t.regex(error!.message, /it is taken over 10 minutes after its last mark, or delete /);

  markedAgo(LOCK_STALE_AFTER_MS + 1000);
  t.is(runDirOwner(dir), null);
  const lock = lockRunDir(dir, 'here');
  t.is(JSON.parse(readFileSync(file, 'utf8')).what, 'here');
  lock.release();
});

test('a holder marks its lock alive while it holds it', async (t) => {
  const dir = path.join(tempDir(), 'run');
  const file = path.join(dir, RUN_LOCK_FILE);
  const lock = lockRunDir(dir, 'job', 20);
  try {
    const longAgo = new Date(Date.now() - LOCK_STALE_AFTER_MS);
    utimesSync(file, longAgo, longAgo);
    for (let polls = 0; polls < 250 && statSync(file).mtimeMs <= longAgo.getTime(); polls++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    t.true(statSync(file).mtimeMs > longAgo.getTime(), 'a heartbeat marked the lock again');
  } finally {
    lock.release();
  }
});

test("a job nested in another's withRunLock shares its lock, an unrelated one in the same thread is refused; the last release removes the lock, and an empty directory the lock created; a file is no run directory", async (t) => {
  const made = path.join(tempDir(), 'new-run');
  let finish = () => {};
  const job = withRunLock(made, 'job', async () => {
    await withRunLock(made, 'training loop', async () => {});
    // A nested holder's second release gives nothing more back.
    const inner = lockRunDir(made, 'training loop');
    inner.release();
    inner.release();
    t.true(existsSync(path.join(made, RUN_LOCK_FILE)), 'still held by the outer holder');
    await new Promise<void>((resolve) => {
      finish = resolve;
    });
  });
  // A second job of this thread while the first runs (as two jobs of a test or a server would be).
  const refused = await t.throwsAsync(() => withRunLock(made, 'second job', async () => {}), { instanceOf: RunDirInUseError });
  t.regex(
    refused!.message,
    /new-run is in use by another job of this process \(job, since .*\): wait for it to finish, or use another directory/,
  );
  finish();
  await job;
  t.false(existsSync(made), 'nothing was written: the directory is gone with the lock');

  const used = path.join(tempDir(), 'used-run');
  const lock = lockRunDir(used, 'job');
  writeFileSync(path.join(used, 'run.json'), '{}');
  lock.release();
  t.deepEqual(readdirSync(used), ['run.json']);
  const error = t.throws(() => lockRunDir(path.join(used, 'run.json'), 'job'), { instanceOf: InputError });
  t.regex(error!.message, /run\.json cannot be a run directory/);
});

test('nas train into a directory another process is running in exits 2 with the owner, and leaves the directory as it was', async (t) => {
  const dir = path.join(tempDir(), 'run');
  const child = await holder(dir);
  try {
    const res = await nas('train', '--arch', 'mobilenetv3-small-0.35', '--resolution', '32', '--epochs', '1', '--out', dir);
    t.is(res.code, 2, res.stderr);
    t.regex(res.stderr, new RegExp(`in use by process ${child.pid}`));
    t.deepEqual(readdirSync(dir), [RUN_LOCK_FILE]);
  } finally {
    await kill(child, 'SIGTERM');
  }
});
