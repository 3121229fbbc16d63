import test from 'ava';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { atTableInput, predictLatency } from '../src/latency-model/predict/predict.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { zooSpec } from '../src/search-space/zoo/index.js';

test('a searched spec at the proxy resolution is priced at the deployment input its provenance records', (t) => {
  const table = loadTable('default');
  const space = getChoiceSpace('mobilenetv3');
  const proxy = space.materialise(
    space.choicePoints.map(() => 0),
    { resolution: 32, classes: 10 },
  );
  const searched = { ...proxy, provenance: { ...proxy.provenance, deployment: { resolution: 224, classes: 1000 } } };
  t.throws(() => predictLatency(searched, table), { message: /profiled at 224x224, the spec is 32x32/ });
  const priced = atTableInput(searched, table);
  t.is(priced.spec.input.resolution, 224);
  t.is(priced.spec.classes, 1000);
  t.regex(priced.note!, /deployment input 224x224, 1000 classes/);
  t.is(
    predictLatency(priced.spec, table).totalMs,
    predictLatency(
      space.materialise(
        space.choicePoints.map(() => 0),
        { resolution: 224, classes: 1000 },
      ),
      table,
    ).totalMs,
  );
  // Without a recorded deployment, or at a resolution the table has, the spec is priced as it is.
  t.is(atTableInput(proxy, table).spec, proxy);
  const zoo = zooSpec('mobilenetv3-small-1.0');
  t.deepEqual(atTableInput(zoo, table), { spec: zoo, note: null });
});
