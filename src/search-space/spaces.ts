/**
 * Spaces by name: the built-in zoo spaces, the search spaces shipped as data in
 * experiments/spaces/<name>.json, or any search-space JSON file a user writes.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { checkingField, InputError } from '../common/errors.js';
import { PROJECT_ROOT } from '../common/version.js';
import { ChoiceSpace, readSearchSpace } from './choice-space.js';
import './neighbourhood.js';
import { type ArchSpace, registeredSpace, registeredSpaceNames, registerSpace } from './space.js';

export type { ArchSpace } from './space.js';

export const SPACES_DIR = path.join(PROJECT_ROOT, 'experiments', 'spaces');

export function spaceNames(): string[] {
  const files = existsSync(SPACES_DIR)
    ? readdirSync(SPACES_DIR)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    : [];
  return [...new Set([...files, ...registeredSpaceNames()])];
}

/** The names of the spaces with choice points (not the zoo-derived ones, which are for profiling). */
export function choiceSpaceNames(): string[] {
  return spaceNames().filter((name) => !registeredSpace(name) || registeredSpace(name) instanceof ChoiceSpace);
}

/** Whether a space (or spec) argument is a file rather than a name: it has a '/' or ends in .json. */
export function isSpaceFile(nameOrFile: string): boolean {
  return nameOrFile.endsWith('.json') || nameOrFile.includes('/');
}

/** A space by name (built-in or experiments/spaces/NAME.json) or by file path. */
export function getSpace(nameOrFile: string): ArchSpace {
  const known = registeredSpace(nameOrFile);
  if (known) return known;
  const isFile = isSpaceFile(nameOrFile);
  const file = isFile ? nameOrFile : path.join(SPACES_DIR, `${nameOrFile}.json`);
  if (!existsSync(file)) {
    throw new InputError(
      isFile
        ? `${file}: no such search-space file`
        : `unknown space "${nameOrFile}": choose one of ${spaceNames().join(', ')} or give a search-space JSON file`,
    );
  }
  const space = new ChoiceSpace(readSearchSpace(file));
  if (!isFile) registerSpace(space);
  return space;
}

/** A search space with choice points (not one of the zoo-derived spaces). */
export function getChoiceSpace(nameOrFile: string): ChoiceSpace {
  const space = getSpace(nameOrFile);
  if (!(space instanceof ChoiceSpace))
    throw new InputError(
      `space "${nameOrFile}" has no choice points to search (it is for profiling): use mnasnet, mobilenetv3 or a search-space file`,
    );
  return space;
}

/** The choice space an experiment file names in `space`; an unknown one is said to be the file's `$.space`. */
export function experimentChoiceSpace(space: string, file: string): ChoiceSpace {
  return checkingField(file, '$.space', () => getChoiceSpace(space));
}
