/** Dataset source names (`fashion-mnist`, `cifar10:PATH`, `folder:PATH`), without loading anything. */
import path from 'node:path';

/**
 * One spelling per dataset, for comparing a run's recorded dataset with the one given: a source
 * with a path gets the absolute path (`cifar10:./data` and `cifar10:data` are one dataset).
 */
export function canonicalDatasetSource(source: string): string {
  const match = /^(cifar10|folder):(.+)$/.exec(source);
  return match ? `${match[1]}:${path.resolve(match[2]!)}` : source;
}
