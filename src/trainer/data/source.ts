/** Dataset source names (`fashion-mnist`, `cifar10:PATH`, `folder:PATH`), without loading anything. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../common/errors.js';

export const DATASET_FORMS = ['fashion-mnist', 'cifar10:PATH', 'folder:PATH', 'fashion-mosaic'];

export function unknownDatasetError(source: string): InputError {
  return new InputError(`unknown dataset "${source}": use one of ${DATASET_FORMS.join(', ')}`);
}

/**
 * Refuses, without loading anything, a proxy dataset a search cannot use: a source that names no
 * dataset, a folder that is not there, or the segmentation mosaics (a search's members classify).
 */
export function checkSearchDataset(source: string): void {
  if (source === 'fashion-mnist') return;
  if (sourceOfDatasetName(source) === 'fashion-mosaic')
    throw new InputError(
      `${source} is a segmentation task (per-pixel labels) and a search's members classify: use fashion-mnist, cifar10:PATH or folder:PATH`,
    );
  const located = pathSource(source);
  if (!located) throw unknownDatasetError(source);
  if (!existsSync(located.path)) throw new InputError(`dataset ${source}: no such directory`);
}

/**
 * One spelling per dataset, for comparing a run's recorded dataset with the one given: a source
 * with a path gets the absolute path (`cifar10:./data` and `cifar10:data` are one dataset), a
 * relative one taken from `dir` (default: the current directory).
 */
export function canonicalDatasetSource(source: string, dir = '.'): string {
  const located = pathSource(source);
  return located ? `${located.kind}:${path.resolve(dir, located.path)}` : source;
}

/** A source read from a path (`cifar10:PATH`, `folder:PATH`): its kind and path; null for the others. */
export function pathSource(source: string): { kind: 'cifar10' | 'folder'; path: string } | null {
  const match = /^(cifar10|folder):(.+)$/.exec(source);
  return match ? { kind: match[1] as 'cifar10' | 'folder', path: match[2]! } : null;
}

/**
 * The source that loads a dataset again, from the name a run recorded: the source it was loaded
 * from, but for a mosaic, whose name carries its canvas size (the resolution sets it).
 */
export function sourceOfDatasetName(name: string): string {
  return /^fashion-mosaic-\d+$/.test(name) ? 'fashion-mosaic' : name;
}
