/** The pipeline's measured latency: timed here with a table profiled here, null with the reason for another machine's table. */
import { cpus } from 'node:os';
import test from 'ava';
import { measureOnThisMachine } from '../src/pipeline/measured-latency.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { specTable } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

test('measureOnThisMachine: a table profiled here times each spec; a phone table gives null and says why', async (t) => {
  const { backend } = await prepareBackend('cpu');
  const spec = tinySpec({ resolution: 16 });
  const table = specTable(spec);
  const here = { ...table, device: { ...table.device, backend, cpu: cpus()[0]?.model ?? 'unknown' } };
  const timed = await measureOnThisMachine([spec, spec], here, { passes: 1, maxWaitSeconds: 0 });
  t.is(timed.reason, null);
  t.is(timed.measured?.length, 2);
  for (const m of timed.measured ?? []) t.true(m.measuredMs > 0 && m.rawMs === m.measuredMs, JSON.stringify(m));
  const phone = { ...table, device: { ...table.device, name: 'Pixel 4', backend: 'tflite', cpu: 'Snapdragon 855' } };
  const untimed = await measureOnThisMachine([spec], phone);
  t.is(untimed.measured, null);
  t.regex(untimed.reason ?? '', /^table synthetic was profiled on Pixel 4 \(Snapdragon 855, tflite\), not on this machine/);
});
