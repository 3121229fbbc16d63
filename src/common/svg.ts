/** Small dependency-free SVG charts for results/ (scatter plots with optional lines). */

export interface PlotPoint {
  x: number;
  y: number;
  /** Points of the same group share a colour and a legend entry. */
  group?: string;
  label?: string;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Draw y = x (predicted vs measured). */
  diagonal?: boolean;
  /** Connect the points of these groups in x order (e.g. a Pareto front). */
  lines?: string[];
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) ?? step * 10;
  const ticks: number[] = [];
  // At most 2 * count ticks: a step lost in rounding (t + unit === t) must not loop forever.
  for (let t = Math.ceil(lo / unit) * unit; t <= hi + 1e-9 && ticks.length <= 2 * count; t += unit) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function scatterPlot(points: readonly PlotPoint[], options: PlotOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 480;
  const margin = { left: 70, right: 20, top: 40, bottom: 55 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (options.diagonal) [x0, y0, x1, y1] = [Math.min(x0, y0), Math.min(x0, y0), Math.max(x1, y1), Math.max(x1, y1)];
  // A range below a millionth of its values (equal values up to rounding) is padded as a single value.
  const pad = (a: number, b: number) => (b - a > 1e-6 * Math.max(Math.abs(a), Math.abs(b)) ? b - a : Math.abs(a) || 1) * 0.05;
  [x0, x1] = [x0 - pad(x0, x1), x1 + pad(x0, x1)];
  [y0, y1] = [y0 - pad(y0, y1), y1 + pad(y0, y1)];
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * (width - margin.left - margin.right);
  const sy = (y: number) => height - margin.bottom - ((y - y0) / (y1 - y0)) * (height - margin.top - margin.bottom);
  const groups = [...new Set(points.map((p) => p.group ?? ''))];
  const colour = (g: string) => COLOURS[groups.indexOf(g) % COLOURS.length]!;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<line x1="${sx(t)}" y1="${margin.top}" x2="${sx(t)}" y2="${height - margin.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${height - margin.bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${margin.left}" y1="${sy(t)}" x2="${width - margin.right}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${width - margin.left - margin.right}" height="${height - margin.top - margin.bottom}" fill="none" stroke="#333"/>`,
  );
  parts.push(`<text x="${width / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  if (options.diagonal) {
    const lo = Math.max(x0, y0);
    const hi = Math.min(x1, y1);
    parts.push(`<line x1="${sx(lo)}" y1="${sy(lo)}" x2="${sx(hi)}" y2="${sy(hi)}" stroke="#999" stroke-dasharray="4 3"/>`);
  }
  for (const g of options.lines ?? []) {
    const line = points.filter((p) => (p.group ?? '') === g).sort((a, b) => a.x - b.x);
    if (line.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${colour(g)}" stroke-width="1.5" points="${line.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
  }
  for (const p of points) {
    parts.push(
      `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${colour(p.group ?? '')}" fill-opacity="0.75">${p.label ? `<title>${escapeXml(p.label)}</title>` : ''}</circle>`,
    );
  }
  if (groups.length > 1 || groups[0]) {
    const plotted = points.map((p) => ({ x: sx(p.x), y: sy(p.y) }));
    const box = legendBox(groups, plotted, {
      left: margin.left,
      top: margin.top,
      right: width - margin.right,
      bottom: height - margin.bottom,
    });
    parts.push(`<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" fill="white" fill-opacity="0.85"/>`);
    groups.forEach((g, i) => {
      const y = box.y + 14 + i * 16;
      parts.push(
        `<circle cx="${box.x + 12}" cy="${y - 4}" r="4" fill="${colour(g)}"/><text x="${box.x + 22}" y="${y}">${escapeXml(g)}</text>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * Where the legend goes: the corner of the plot area whose legend-sized box covers the fewest
 * points (top left when several are empty), so it does not hide the data (a reward curve that
 * rises to the top left, say).
 */
function legendBox(
  groups: readonly string[],
  plotted: readonly { x: number; y: number }[],
  area: { left: number; top: number; right: number; bottom: number },
): { x: number; y: number; width: number; height: number } {
  // About 7 px per character at font-size 12, after the marker.
  const width = 30 + 7 * Math.max(...groups.map((g) => g.length));
  const height = 8 + 16 * groups.length;
  const corners = [
    { x: area.left, y: area.top },
    { x: area.right - width, y: area.top },
    { x: area.left, y: area.bottom - height },
    { x: area.right - width, y: area.bottom - height },
  ];
  const covered = (c: { x: number; y: number }) =>
    plotted.filter((p) => p.x >= c.x && p.x <= c.x + width && p.y >= c.y && p.y <= c.y + height).length;
  const best = corners.reduce((a, b) => (covered(b) < covered(a) ? b : a));
  return { ...best, width, height };
}
