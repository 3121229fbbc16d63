import test from 'ava';
import { fitToWidth } from '../src/cli/progress.js';

const BAR = `[${'#'.repeat(12)}${'.'.repeat(12)}]`;

test('a status line fits the terminal: the bar goes first, then the middle of the text, never its end (the ETA)', (t) => {
  t.is(fitToWidth(BAR, 'ranking candidate 1/30', 80), `${BAR} ranking candidate 1/30`);
  const text = 'supernet step 120/2680 loss 1.234 last 61% 10.3 ms controller pick 10.1 ms 101 img/s ETA 10:31';
  t.is(fitToWidth(BAR, text, 100), text);
  const cut = fitToWidth(BAR, text, 80);
  t.is(cut.length, 79);
  t.true(cut.startsWith('supernet step 120/2680'), cut);
  t.true(cut.endsWith('101 img/s ETA 10:31'.slice(-16)), cut);
  t.is(fitToWidth(BAR, text, 10), text.slice(-9));
});
