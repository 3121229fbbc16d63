/**
 * One process at a time in a run directory. A job takes its directory's lock before it writes there
 * and releases it when it ends, finished, failed or interrupted; a second process that wants the
 * same directory (a second `nas train --resume`, a bench started twice) is refused with the owner's
 * pid instead of both writing one checkpoint. A lock whose process is gone (kill -9) is taken over,
 * by one process only when several find it at once. Another host's process cannot be asked whether
 * it runs, so a holder marks its lock alive (the file's modification time) every LOCK_HEARTBEAT_MS,
 * and another host's lock without a mark for LOCK_STALE_AFTER_MS counts as dead.
 * A job nested in another's `withRunLock` for the same directory (`nas train`'s job and its training
 * loop) shares its lock; any other holder in the same thread is refused like another process (two
 * unrelated jobs in one thread would otherwise write one directory, and the first to end would take
 * the lock from the other). A directory the lock created and nothing else filled (a job refused
 * before it wrote) is removed with it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { InputError } from './errors.js';

/** The lock's file in the run directory. */
export const RUN_LOCK_FILE = '.lock';

/** How often a holder marks its lock alive. */
export const LOCK_HEARTBEAT_MS = 30_000;
/**
 * How long another host's lock counts as live after its last mark: many missed marks, so a holder
 * busy in a long synchronous stretch or a few minutes of clock skew between hosts is not taken for dead.
 */
export const LOCK_STALE_AFTER_MS = 10 * 60_000;

/** The lock and its transient files (drafts, the takeover guard): content hashes of run directories leave them out. */
export const isLockFile = (name: string) => name === RUN_LOCK_FILE || name.startsWith(`${RUN_LOCK_FILE}.`);

export interface LockOwner {
  pid: number;
  thread: number;
  host: string;
  what: string;
  since: string;
}

/** Another live process (or thread) holds the directory. Exit code 2: the user chose the directory. */
export class RunDirInUseError extends InputError {}

export interface RunLock {
  /** Gives the lock back (the last nested holder deletes the file); later calls do nothing. */
  release(): void;
}

/** Directories this thread holds: how many nested holders each, the first's owner, whether taking the lock created it, its heartbeat. */
const held = new Map<string, { holders: number; owner: LockOwner; created: boolean; heartbeat: NodeJS.Timeout }>();

/** The directories the `withRunLock` jobs around the running code hold: a lock taken inside one of them nests. */
const enclosingLocks = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * Takes `dir`'s lock for `what` (e.g. "nas train"), creating the directory; throws RunDirInUseError if it is taken.
 * `heartbeatMs` is for tests.
 */
export function lockRunDir(dir: string, what: string, heartbeatMs = LOCK_HEARTBEAT_MS): RunLock {
  const key = path.resolve(dir);
  const holding = held.get(key);
  if (holding) {
    if (!enclosingLocks.getStore()?.has(key))
      throw new RunDirInUseError(
        `${dir} is in use by another job of this process (${holding.owner.what}, since ${holding.owner.since}): wait for it to finish, or use another directory`,
      );
    holding.holders++;
    return releaser(key);
  }
  const created = !existsSync(key);
  try {
    mkdirSync(key, { recursive: true });
  } catch (err) {
    throw new InputError(`${dir} cannot be a run directory (${(err as Error).message}): choose a directory path`);
  }
  const file = path.join(key, RUN_LOCK_FILE);
  const me: LockOwner = { pid: process.pid, thread: threadId, host: os.hostname(), what, since: new Date().toISOString() };
  if (!tryCreate(file, me)) {
    const owner = readOwner(file);
    if (owner && isLive(owner, file)) {
      const elsewhere = owner.host !== me.host;
      const where = elsewhere ? ` on ${owner.host}, alive ${secondsSinceMarked(file)} s ago` : '';
      const ifDead = elsewhere
        ? `it is taken over ${LOCK_STALE_AFTER_MS / 60_000} minutes after its last mark, or delete ${file}`
        : `delete ${file}`;
      throw new RunDirInUseError(
        `${dir} is in use by process ${owner.pid}${where} (${owner.what}, since ${owner.since}): wait for it to finish or stop it, or use another directory (if no such process runs, ${ifDead})`,
      );
    }
    if (!takeOver(file, owner, me))
      throw new RunDirInUseError(`${dir} was taken by another process just now: wait for it, or use another directory`);
  }
  const heartbeat = setInterval(() => markAlive(file), heartbeatMs).unref();
  held.set(key, { holders: 1, owner: me, created, heartbeat });
  return releaser(key);
}

/** The live process holding `dir`'s lock, or null (none, or its holder is gone). */
export function runDirOwner(dir: string): LockOwner | null {
  const file = path.join(path.resolve(dir), RUN_LOCK_FILE);
  const owner = readOwner(file);
  return owner && isLive(owner, file) && !held.has(path.resolve(dir)) ? owner : null;
}

/** Runs `job` holding `dir`'s lock; a `withRunLock` of the same directory inside `job` shares it. */
export async function withRunLock<T>(dir: string, what: string, job: () => Promise<T>): Promise<T> {
  const lock = lockRunDir(dir, what);
  const enclosing = new Set(enclosingLocks.getStore());
  enclosing.add(path.resolve(dir));
  try {
    return await enclosingLocks.run(enclosing, job);
  } finally {
    lock.release();
  }
}

function releaser(key: string): RunLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      const holding = held.get(key);
      if (!holding) return;
      if (--holding.holders > 0) return;
      held.delete(key);
      clearInterval(holding.heartbeat);
      const file = path.join(key, RUN_LOCK_FILE);
      const owner = readOwner(file);
      if (owner?.pid !== process.pid || owner.thread !== threadId) return;
      rmSync(file, { force: true });
      if (holding.created && readdirSync(key).length === 0) rmdirSync(key);
    },
  };
}

/**
 * Creates the lock file only if there is none; false if it exists. The owner is written to a file of
 * its own first and hard-linked into place, so the lock never exists without its owner in it.
 */
function tryCreate(file: string, owner: LockOwner): boolean {
  const draft = writeDraft(file, owner);
  try {
    linkSync(draft, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** The owner written to a file of its own beside `file`, to be linked or renamed into place. */
function writeDraft(file: string, owner: LockOwner): string {
  const draft = `${file}.${owner.pid}.${owner.thread}`;
  writeFileSync(draft, `${JSON.stringify(owner)}\n`);
  return draft;
}

/**
 * Replaces the lock `stale` (read from `file` and judged dead; null when unreadable) with `me`'s.
 * The file is replaced in one rename, never deleted first, so a process arriving meanwhile finds the
 * directory taken. Processes that judged the same dead owner take turns through a guard file, and
 * each checks under the guard that the lock is still the dead one before replacing it: the second
 * finds the first's lock and loses. Exported for its race test.
 */
export function takeOver(file: string, stale: LockOwner | null, me: LockOwner): boolean {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard, me) && !replaceDeadGuard(guard, me)) return false;
  try {
    if (!existsSync(file)) return tryCreate(file, me);
    if (!sameOwner(readOwner(file), stale)) return false;
    const draft = writeDraft(file, me);
    renameSync(draft, file);
    return true;
  } finally {
    if (sameOwner(readOwner(guard), me)) rmSync(guard, { force: true });
  }
}

/**
 * Takes the guard left by a taker that died holding it (kill -9 within its takeover). Two processes
 * doing this at one instant can both hold the guard: a death inside that window and two takers at
 * once, left as it is.
 */
function replaceDeadGuard(guard: string, me: LockOwner): boolean {
  const owner = readOwner(guard);
  if (owner && isLive(owner, guard)) return false;
  rmSync(guard, { force: true });
  return tryCreate(guard, me);
}

function sameOwner(a: LockOwner | null, b: LockOwner | null): boolean {
  if (!a || !b) return a === b;
  return a.pid === b.pid && a.thread === b.thread && a.host === b.host && a.since === b.since;
}

/** The lock file's owner; null when it is unreadable (written by something else). */
function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.thread === 'number' ? (owner as LockOwner) : null;
  } catch {
    return null;
  }
}

/** Marks the lock alive for processes on other hosts; a lock already gone (released meanwhile) is no error. */
function markAlive(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {}
}

/** Seconds since `file` (a lock) was last marked alive; Infinity when it is gone. */
function secondsSinceMarked(file: string): number {
  try {
    return Math.round((Date.now() - statSync(file).mtimeMs) / 1000);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * Whether the owner of `file` still runs. Another host's process cannot be asked: it runs while its
 * lock is marked alive. This thread's own lock that it no longer holds was left by a holder that
 * never released it.
 */
function isLive(owner: LockOwner, file: string): boolean {
  if (owner.host !== os.hostname()) return secondsSinceMarked(file) * 1000 < LOCK_STALE_AFTER_MS;
  if (owner.pid === process.pid) return owner.thread !== threadId;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return isNodeProcess(owner.pid);
}

/** A live pid that is not a Node process was reused by the system after the owner died (Linux's /proc says; elsewhere assume not). */
function isNodeProcess(pid: number): boolean {
  try {
    return /node/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true;
  }
}
