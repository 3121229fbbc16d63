import test from 'ava';
import { silentLogger } from '../src/common/log.js';
import { RunWallTime } from '../src/common/wall-time.js';

test("a run's wall time counts what earlier sessions recorded; saved while the session runs and, once it stops, at its final total", async (t) => {
  const saved: number[] = [];
  const wallTime = new RunWallTime(100, async (seconds) => void saved.push(seconds), silentLogger, 5);
  for (let waited = 0; saved.length < 2 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  t.true(saved.length >= 2, 'saved while running');
  t.true(saved.every((seconds) => seconds >= 100));
  await wallTime.stop();
  const total = wallTime.totalSeconds();
  t.is(saved.at(-1), total, 'the last save is the final total');
  t.is(total, 100 + wallTime.sessionSeconds());
  const savesAtStop = saved.length;
  await new Promise((r) => setTimeout(r, 30));
  t.is(saved.length, savesAtStop, 'no save after stop');
  t.is(wallTime.totalSeconds(), total, 'a stopped session no longer counts');
});
