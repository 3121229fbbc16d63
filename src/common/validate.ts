import type { z } from 'zod';
import { jsonPath, ValidationError, type ValidationIssue } from './errors.js';

/** Validates data with a zod schema; errors name `source` and the JSON path of each bad field. */
export function parseWith<T>(schema: z.ZodType<T>, data: unknown, source: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new ValidationError(
    source,
    result.error.issues.map((issue) => toValidationIssue(closestBranch(issue), data)),
  );
}

/**
 * A union's issue as the failure of the alternative the data came closest to (zod says only
 * "Invalid input"): the one whose issue is deepest in the data, else one that got the type right;
 * when every alternative wants another type, the types it could have been.
 */
function closestBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  const branches = issue.errors.filter((branch) => branch.length > 0);
  const depth = (branch: z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length));
  const typeOnly = (branch: z.core.$ZodIssue[]) => depth(branch) === 0 && branch.every((i) => i.code === 'invalid_type');
  const score = (branch: z.core.$ZodIssue[]) => 2 * depth(branch) + (typeOnly(branch) ? 0 : 1);
  const best = branches.reduce<z.core.$ZodIssue[] | undefined>((a, b) => (a === undefined || score(b) > score(a) ? b : a), undefined);
  if (!best) return issue;
  if (score(best) === 0) {
    const expected = [...new Set(branches.flatMap((b) => b.map((i) => (i.code === 'invalid_type' ? i.expected : null))))];
    const received = /received (\w+)$/.exec(best[0]!.message)?.[1];
    return { ...issue, message: `expected ${expected.join(' or ')}${received ? `, received ${received}` : ''}` };
  }
  const inner = closestBranch(best[0]!);
  return { ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue;
}

function toValidationIssue(issue: z.core.$ZodIssue, data: unknown): ValidationIssue {
  const path = issue.path as (string | number)[];
  let message = issue.message.replace(/^Invalid (input|option): /, '');
  const missing = /^expected (\w+), received undefined$/.exec(message);
  if (missing) message = `missing (expected ${missing[1]})`;
  if (issue.code === 'invalid_value' || issue.code === 'too_small' || issue.code === 'too_big' || issue.code === 'invalid_format') {
    const got = valueAt(data, path);
    if (got !== undefined) message += `, got ${JSON.stringify(got)}`;
  }
  return { path: jsonPath(path), message };
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let node: unknown = data;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}
