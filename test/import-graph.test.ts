/**
 * The source tree has no import circle (type-only imports included: a circle of types is still a
 * circle between modules). Reads the TypeScript sources, so it checks what was written, not what
 * the compiler kept.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = path.join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Relative imports and re-exports of a file, as absolute .ts paths. */
function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** One circle of the graph as a list of files, or null (depth-first search with colours). */
function findCircle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const circle = visit(next);
        if (circle) return circle;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const circle = visit(node);
    if (circle) return circle;
  }
  return null;
}

test('src/ has no import circle', (t) => {
  const files = sourceFiles(src);
  const graph = new Map(files.map((f) => [f, localImports(f)]));
  t.true(files.length > 50, `found ${files.length} source files under ${src}`);
  t.true(
    [...graph.values()].some((deps) => deps.length > 0),
    'the import parser found imports',
  );
  const circle = findCircle(graph);
  t.is(circle, null, circle ? `import circle: ${circle.map((f) => path.relative(root, f)).join(' -> ')}` : '');
});

test('the circle finder reports a circle it is given', (t) => {
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', []],
  ]);
  t.deepEqual(findCircle(graph), ['a', 'b', 'c', 'a']);
  t.is(
    findCircle(
      new Map([
        ['a', ['b']],
        ['b', []],
      ]),
    ),
    null,
  );
});
