#!/usr/bin/env node
// The `nas` command. The TypeScript sources are compiled to dist/ by `npm ci` (the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('nas: the project is not built (dist/ is missing): run `npm run build` (npm ci does it) and try again');
  process.exit(2);
}
await import(main.href);
