import test from 'ava';
import { scatterPlot } from '../src/common/svg.js';

/** The legend's background box and the centres of the data points, from a plot's SVG. */
function legendAndPoints(svg: string) {
  const [, x, y, width, height] = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="white" fill-opacity/
    .exec(svg)!
    .map(Number);
  const points = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
  return { box: { x: x!, y: y!, width: width!, height: height! }, points };
}

test('the legend sits in the corner with no data under it: a curve rising to the top left keeps it clear', (t) => {
  // A curve from the top left to the middle, with points in the top right and bottom left corners: bottom right is free.
  const rising = Array.from({ length: 10 }, (_, i) => ({ x: i, y: 20 - i, group: 'best so far' }));
  const corners = [
    { x: 19, y: 20, group: 'trials' },
    { x: 0, y: 0, group: 'trials' },
  ];
  const { box, points } = legendAndPoints(scatterPlot([...rising, ...corners], { title: 't', xLabel: 'x', yLabel: 'y' }));
  const under = points.filter((p) => p.x >= box.x && p.x <= box.x + box.width && p.y >= box.y && p.y <= box.y + box.height);
  t.deepEqual(under, []);
  t.true(box.x > 320 && box.y > 240, `the bottom right corner (box at ${box.x}, ${box.y})`);
});
