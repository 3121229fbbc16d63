/** Shared by the benchmarks: command-line arguments and results/bench.md sections. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../src/common/json-io.js';
import { PROJECT_ROOT } from '../src/common/version.js';

export const BENCH_MD = path.join(PROJECT_ROOT, 'results', 'bench.md');

export function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Replaces (or appends) the `## heading` section of a markdown file, keeping the others. */
export async function writeSection(section: string, file = BENCH_MD): Promise<void> {
  const heading = section.split('\n')[0]!;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(`${heading}\n`);
  const end = start < 0 ? -1 : current.indexOf('\n## ', start + heading.length);
  const updated =
    start < 0
      ? `${current.trimEnd()}\n\n${section}`
      : `${current.slice(0, start)}${section.trimEnd()}\n${end >= 0 ? current.slice(end) : ''}`;
  await writeFileAtomic(file, updated.endsWith('\n') ? updated : `${updated}\n`);
}
