import { promises as fs, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { InputError, NasError } from './errors.js';

/** Reads and parses a JSON file; unreadable or malformed files become one-line InputErrors. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${describeFsError(err)})`, { cause: err });
  }
  return parseJsonText(text, file);
}

export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const where = jsonErrorLocation(text);
    throw new InputError(`${file}: not valid JSON${where} (${(err as Error).message})`, { cause: err });
  }
}

function jsonErrorLocation(text: string): string {
  const offset = jsonErrorOffset(text);
  if (offset < 0) return '';
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column}`;
}

const LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/** Offset of the first syntax error in `text` (V8's messages do not always say), or -1. */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = () => {
    for (i++; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail();
    }
    if (i >= text.length) fail();
    i++;
  };
  const sequence = (close: string, item: () => void) => {
    i++;
    skipSpace();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      skipSpace();
      if (text[i] === close) return void i++;
      if (text[i] !== ',') fail();
      i++;
    }
  };
  const value = (): void => {
    skipSpace();
    const c = text[i];
    if (c === '{') {
      sequence('}', () => {
        skipSpace();
        if (text[i] !== '"') fail();
        string();
        skipSpace();
        if (text[i] !== ':') fail();
        i++;
        value();
      });
      return;
    }
    if (c === '[') {
      sequence(']', value);
      return;
    }
    if (c === '"') {
      string();
      return;
    }
    LITERAL.lastIndex = i;
    if (!LITERAL.test(text)) fail();
    i = LITERAL.lastIndex;
  };
  try {
    value();
    skipSpace();
    if (i < text.length) fail();
    return -1;
  } catch (offset) {
    return offset as number;
  }
}

/**
 * Writes `value` as pretty JSON atomically: a temp file in the same directory, fsync, rename.
 * A crash leaves either the old file or the new one, never half of one.
 */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

export async function writeFileAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${++tmpCounter}.tmp`);
  pendingTemps.add(tmp);
  installExitCleanup();
  try {
    await fs.mkdir(dir, { recursive: true });
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await syncDirectory(dir);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new NasError(`cannot write ${file} (${describeFsError(err)})`, { cause: err });
  } finally {
    pendingTemps.delete(tmp);
  }
}

/** Temp files being written; removed synchronously if the process exits before they are renamed. */
const pendingTemps = new Set<string>();
let tmpCounter = 0;
let exitCleanupInstalled = false;

function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.once('exit', () => {
    for (const tmp of pendingTemps) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // Best effort: the process is exiting.
      }
    }
    pendingTemps.clear();
  });
}

/** Platforms that cannot fsync a directory (Windows, some file systems) report one of these. */
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'EPERM']);

/** Makes the rename durable: fsyncs the directory entry. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle?.close();
  }
}

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOSPC':
      return 'disk full: free some space and run the command again';
    default:
      return (err as Error)?.message ?? String(err);
  }
}
