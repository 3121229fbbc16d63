/** The command lines messages tell the user to run, each argument written so that a POSIX shell reads it back unchanged. */

/** A word no POSIX shell (zsh included: not `=` first) gives a meaning to: printed as is. */
const PLAIN_WORD = /^[\w@%+:,./-][\w@%+=:,./-]*$/;

/** `arg` as a shell argument: as is when plain, otherwise in single quotes (a quote inside as '\''). */
export function shellArg(arg: string | number): string {
  const text = String(arg);
  return PLAIN_WORD.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** The command line of `words`, each quoted only where a shell needs it. */
export function commandLine(words: readonly (string | number)[]): string {
  return words.map(shellArg).join(' ');
}
