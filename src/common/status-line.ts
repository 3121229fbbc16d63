/**
 * The one redrawn status line (a progress bar) at the bottom of an interactive terminal. Log lines
 * are written above it: the line is cleared, the log line written, the status line drawn again,
 * so the two never share a row.
 */
const CLEAR_LINE = '\r\x1b[2K';
let current = '';
/** Whether log lines came after the status line's last update (a finished job's closing log). */
let loggedSinceUpdate = false;

/** Draws (or redraws) the status line on stderr. */
export function showStatus(line: string): void {
  current = line;
  loggedSinceUpdate = false;
  process.stderr.write(`${CLEAR_LINE}${line}`);
}

/**
 * Ends the status line: it stays on screen, and later output starts on a fresh row, unless log
 * lines came after its last update: then it is erased, so a job's closing log is its last output
 * rather than a progress bar drawn again below it.
 */
export function endStatus(): void {
  if (!current) return;
  current = '';
  process.stderr.write(loggedSinceUpdate ? CLEAR_LINE : '\n');
}

/** Writes text (whole lines) to stderr above the status line. */
export function writeAboveStatus(text: string): void {
  if (!current) {
    process.stderr.write(text);
    return;
  }
  loggedSinceUpdate = true;
  process.stderr.write(`${CLEAR_LINE}${text}${current}`);
}
