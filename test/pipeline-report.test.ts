/** The closing report's plot: points whose latencies differ only by rounding (a zoo model priced at the final model's latency). */
import test from 'ava';
import { scatterPlot } from '../src/common/svg.js';

test('scatterPlot: x values equal up to rounding give a plot (the tick loop ran out of memory before)', (t) => {
  const x = 0.36539199999999994;
  const svg = scatterPlot(
    [
      { x, y: 10, group: 'pipeline stages' },
      { x: x + 5.551115123125783e-17, y: 10.5, group: 'zoo (same recipe)' },
    ],
    { title: 't', xLabel: 'ms', yLabel: '%' },
  );
  t.regex(svg, /^<svg/);
  t.true(svg.split('<text').length < 40, 'a handful of ticks');
});
