import test from 'ava';
import { formatDifferences, jsonDifferences } from '../src/common/json-diff.js';

test('jsonDifferences lists the differing leaves by JSON path with both values, in document order', (t) => {
  const a = { seed: 0, algorithm: 'reinforce', reward: { w: -0.07, targetMs: 5 }, blocks: [1, 2, 3], same: { x: [1] } };
  const b = { seed: 5, algorithm: 'random', reward: { w: -0.07, targetMs: 6 }, blocks: [1, 4], same: { x: [1] }, extra: true };
  t.deepEqual(jsonDifferences(a, b), [
    { path: '$.seed', a: 0, b: 5 },
    { path: '$.algorithm', a: 'reinforce', b: 'random' },
    { path: '$.reward.targetMs', a: 5, b: 6 },
    { path: '$.blocks.length', a: 3, b: 2 },
    { path: '$.blocks[1]', a: 2, b: 4 },
    { path: '$.extra', a: undefined, b: true },
  ]);
  t.deepEqual(jsonDifferences(a, structuredClone(a)), []);
});

test('formatDifferences names the first four, values cut to 40 characters, then how many more', (t) => {
  const long = 'a search over the MobileNetV3 space, priced on the Pixel 1 table';
  const a = { description: long, seed: 0, algorithm: 'reinforce', budget: 10, parallel: 1, name: 'x' };
  const b = { description: `${long}!`, seed: 5, algorithm: 'random', budget: 20, parallel: 2 };
  const line = formatDifferences(jsonDifferences(a, b));
  t.is(
    line,
    '$.description: "a search over the MobileNetV3 space,... vs "a search over the MobileNetV3 space,...; $.seed: 0 vs 5; $.algorithm: "reinforce" vs "random"; $.budget: 10 vs 20; and 2 more',
  );
  t.is(formatDifferences(jsonDifferences({ seed: 0 }, {})), '$.seed: 0 vs absent');
  t.is(formatDifferences(jsonDifferences({ a: [1, 2] }, { a: [1, 2] })), '');
});
