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

/** The run kinds a command continues, by what its directory holds. */
type ResumableRun = 'search' | 'train' | 'netadapt' | 'pipeline';

const RESUME_WORDS: Record<ResumableRun, (dir: string) => string[]> = {
  search: (dir) => ['nas', 'search', '--resume', dir],
  train: (dir) => ['nas', 'train', '--out', dir, '--resume'],
  netadapt: (dir) => ['nas', 'netadapt', '--out', dir, '--resume'],
  pipeline: (dir) => ['nas', 'pipeline', '--resume', dir],
};

/** The command line that continues the run of kind `kind` in `dir` (after Ctrl-C, a crash or kill -9). */
export function resumeCommand(kind: ResumableRun, dir: string): string {
  return commandLine(RESUME_WORDS[kind](dir));
}
