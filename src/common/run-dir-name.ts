/** Where a run goes when no --out is given: runs/<label>-<time>, its label (an experiment's name) made one safe directory name. */
import path from 'node:path';

/** The directory of a run started at `now` without --out: runs/<label>-<UTC time to the second>. */
export function defaultRunDir(label: string, now = new Date()): string {
  return path.join('runs', `${safeDirName(label)}-${now.toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
}

/**
 * `name` as one directory name that still reads like it: path separators, spaces and other
 * characters unsafe in file names become '-', and leading dots go (no hidden or parent directory).
 */
export function safeDirName(name: string): string {
  const safe = name
    .replace(/[^\p{L}\p{N}._+-]+/gu, '-')
    .replace(/^[.-]+/, '')
    .replace(/-+$/, '');
  return safe || 'run';
}
