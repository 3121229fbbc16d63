import type { z } from 'zod';
import { jsonPath, ValidationError, type ValidationIssue } from './errors.js';

/** Validates data with a zod schema; errors name `source` and the JSON path of each bad field. */
export function parseWith<T>(schema: z.ZodType<T>, data: unknown, source: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new ValidationError(
    source,
    result.error.issues.map((issue) => toValidationIssue(issue, data)),
  );
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
