import test from 'ava';
import { settled, speedFloor } from '../src/latency-model/measure/whole-model.js';

const at = (measuredMs: number, speed = 1) => ({ measuredMs, rawMs: measuredMs / speed });

test('a model is settled once its two fastest timings agree within 3% and the fastest ran at full speed', (t) => {
  t.false(settled([at(40)], 0.95), 'one timing is never enough');
  t.false(settled([at(40), at(44)], 0.95), 'two timings 10% apart');
  t.true(settled([at(40), at(41)], 0.95));
  t.true(settled([at(52), at(40), at(41)], 0.95), 'a slow third timing does not matter');
  t.false(settled([at(40, 0.8), at(40.5, 0.8)], 0.95), 'agreeing, but timed while the machine ran at 80%');
  t.true(settled([at(40, 0.8), at(40.5, 0.8)], 0), 'without a probe only agreement counts');
});

test('a timing below the speed gate asks for another pass until the waits of the set are used up, then no longer', (t) => {
  // The machine has run the probe at 10 ms (the table's reference: 10 ms); the gate asks for 95% of that.
  const probe = { fastestMs: 10 };
  const gate = { minSpeed: 0.95, maxWaitSeconds: 1 };
  const slowButAgreeing = [at(40, 0.8), at(40.5, 0.8)];
  t.is(speedFloor(probe, 10, gate, false), 0.95);
  t.false(settled(slowButAgreeing, speedFloor(probe, 10, gate, false)));
  t.is(speedFloor(probe, 10, gate, true), 0);
  t.true(settled(slowButAgreeing, speedFloor(probe, 10, gate, true)));
  t.is(speedFloor(null, 10, gate, false), 0, 'without a probe only agreement counts');
  t.is(speedFloor({ fastestMs: 20 }, 10, gate, false), 0.475, "a machine slower than the table's asks for 95% of its own full speed");
});
