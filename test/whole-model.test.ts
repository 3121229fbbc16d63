import test from 'ava';
import { settled } from '../src/latency-model/measure/whole-model.js';

const at = (measuredMs: number, speed = 1) => ({ measuredMs, rawMs: measuredMs / speed });

test('a model is settled once its two fastest timings agree within 3% and the fastest ran at full speed', (t) => {
  t.false(settled([at(40)], 0.95), 'one timing is never enough');
  t.false(settled([at(40), at(44)], 0.95), 'two timings 10% apart');
  t.true(settled([at(40), at(41)], 0.95));
  t.true(settled([at(52), at(40), at(41)], 0.95), 'a slow third timing does not matter');
  t.false(settled([at(40, 0.8), at(40.5, 0.8)], 0.95), 'agreeing, but timed while the machine ran at 80%');
  t.true(settled([at(40, 0.8), at(40.5, 0.8)], 0), 'without a probe only agreement counts');
});
