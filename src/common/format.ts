/** Number and table formatting shared by reports and the CLI. */

/** 5483032 -> "5,483,032" */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A count with its noun, plural unless one: (1, 'epoch') -> "1 epoch", (2, 'step') -> "2 steps". */
export function countOf(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** 216_612_720 -> "216.6M"; small counts keep more digits. */
export function formatMillions(n: number, digits = 1): string {
  return `${(n / 1e6).toFixed(digits)}M`;
}

/** Signed percentage difference of `value` from `reference`: "+1.2%". */
export function percentDiff(value: number, reference: number): string {
  const pct = ((value - reference) / reference) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}

/** A fraction as the percentage a user typed: 0.07 -> "7%", 0.125 -> "12.5%" (no floating-point tail such as 7.000000000000001). */
export function formatShare(fraction: number): string {
  return `${Number((100 * fraction).toPrecision(6))}%`;
}

/** Left-aligned text columns; numeric-looking cells are right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string) => /^[-+]?[\d,.]+[%MKk]?$/.test(s);
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
