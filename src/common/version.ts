import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (where package.json lives), from both `src/` and `dist/src/`. */
export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      readFileSync(path.join(d, 'package.json'));
      return d;
    } catch {
      if (path.dirname(d) === d) throw new Error(`package.json not found above ${dir}`);
    }
  }
}

const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };

/** Version recorded in every output's provenance. */
export const TOOL_VERSION = pkg.version;
export const TOOL_NAME = `nas ${TOOL_VERSION}`;
