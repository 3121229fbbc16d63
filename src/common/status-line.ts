/**
 * The one redrawn status line (a progress bar) at the bottom of an interactive terminal. Log lines
 * are written above it: the line is cleared, the log line written, the status line drawn again,
 * so the two never share a row.
 */
const CLEAR_LINE = '\r\x1b[2K';
let current = '';

/** Draws (or redraws) the status line on stderr. */
export function showStatus(line: string): void {
  current = line;
  process.stderr.write(`${CLEAR_LINE}${line}`);
}

/** Leaves the last status line on screen and moves below it; later output starts on a fresh row. */
export function endStatus(): void {
  if (!current) return;
  current = '';
  process.stderr.write('\n');
}

/** Writes text (whole lines) to stderr above the status line. */
export function writeAboveStatus(text: string): void {
  if (!current) {
    process.stderr.write(text);
    return;
  }
  process.stderr.write(`${CLEAR_LINE}${text}${current}`);
}
