/**
 * Typed errors of the library. The CLI turns them into one line on stderr and an exit code;
 * the library itself never prints or exits.
 */

/** Base class: a failure with a one-line cause and what to do about it. */
export class NasError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The user's input is wrong (bad file, bad option, unknown name). Exit code 2. */
export class InputError extends NasError {
  override readonly exitCode = 2;
}

/** A spec, table or experiment file failed validation: names the file and the field. */
export class ValidationError extends InputError {
  constructor(
    readonly file: string,
    readonly issues: readonly ValidationIssue[],
  ) {
    super(`${file}: ${issues.map(formatIssue).join('; ')}`);
  }
}

export interface ValidationIssue {
  /** JSON path of the offending field, e.g. `$.blocks[3].stride`. */
  path: string;
  /** What was expected, in words. */
  message: string;
}

function formatIssue(issue: ValidationIssue): string {
  return `${issue.path}: ${issue.message}`;
}

/**
 * Runs a check of the field at `path` of the file `source`; an InputError it throws is said to be
 * that field's: `SOURCE: $.path: message`. A ValidationError (a file the field names, invalid) names
 * its own file and passes as it is; so does everything when there is no source (an object built in code).
 */
export function checkingField<T>(source: string | undefined, path: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (source === undefined || !(err instanceof InputError) || err instanceof ValidationError) throw err;
    throw new InputError(`${source}: ${path}: ${err.message}`, { cause: err });
  }
}

/** Formats a path of keys/indices as a JSON path: `['blocks', 3, 'se']` -> `$.blocks[3].se`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** Training produced a NaN/Inf loss; the last good checkpoint is kept. */
export class DivergedError extends NasError {}

/** The user interrupted (Ctrl-C); completed work was saved. Exit code 130, as shells expect. */
export class InterruptedError extends NasError {
  override readonly exitCode = 130;
}
