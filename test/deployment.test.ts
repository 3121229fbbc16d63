import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { atTableInput, MissingKeysError, predictLatency } from '../src/latency-model/predict/predict.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { nas } from './helpers/cli.js';
import { specTable } from './helpers/tables.js';

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

test('nas latency prices a searched spec as its search did: on the table its provenance names, missing ops estimated when the search estimated them', async (t) => {
  const table = loadTable('default');
  const space = getChoiceSpace('mobilenetv3-small-stem');
  const choices = space.choicePoints.map(() => 0);
  const deployed = space.materialise(choices, { resolution: 224, classes: 1000 });
  // The search priced this member with the table's estimator (latency.missing: "estimate"): the table lacks some of its ops.
  t.throws(() => predictLatency(deployed, table), { instanceOf: MissingKeysError });
  const searchMs = predictLatency(deployed, table, { estimate: true }).totalMs;
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-deployment-'));
  const write = (name: string, deployment: Record<string, unknown>) => {
    const proxy = space.materialise(choices, { resolution: 32, classes: 10, name });
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ ...proxy, provenance: { ...proxy.provenance, deployment } }));
    return file;
  };
  const best = write('best', { resolution: 224, classes: 1000, table: 'default', missing: 'estimate' });
  const priced = await nas('latency', '--arch', best, '--json');
  t.is(priced.code, 0, priced.stderr);
  t.is(JSON.parse(priced.stdout.trim().split('\n').pop()!).latencyMs, searchMs, "the search's number, without --estimate");
  t.regex(priced.stderr, /priced at its deployment input 224x224, 1000 classes/);
  t.regex(
    priced.stderr,
    /ops table default lacks are estimated by the table's estimator, as when best was priced \(provenance\.deployment\.missing/,
  );
  const text = await nas('latency', '--arch', best);
  const note = new RegExp(
    `^best: ${searchMs.toFixed(2)} ms on .* \\[default\\] \\((\\d+) ops? estimated( \\(in \\d+ layers\\))?: not in the table\\)\\n$`,
  );
  t.regex(text.stdout, note);
  const estimatedOps = Number(note.exec(text.stdout)?.[1]);
  // --no-estimate refuses them; a spec priced on another table (given with --table), or recorded before the policy was, prices as before.
  const otherTable = write('other-table', { resolution: 224, classes: 1000, table: 'note10', missing: 'estimate' });
  for (const [file, extra] of [
    [best, ['--no-estimate']],
    [otherTable, ['--table', 'default']],
    [write('unrecorded', { resolution: 224, classes: 1000 }), []],
  ] as const) {
    const refused = await nas('latency', '--arch', file, ...extra);
    t.is(refused.code, 2, `${file} ${extra.join(' ')}: ${refused.stderr}`);
    t.regex(refused.stderr, /table default has no entry for \d+ ops of this spec/);
  }
  const refused = await nas('latency', '--arch', best, '--no-estimate');
  t.regex(refused.stderr, new RegExp(`has no entry for ${estimatedOps} ops of this spec`), 'the note counts the ops the refusal names');
});

test('nas latency without --table prices on the table the spec records, and a recorded table not found is one line saying to give --table', async (t) => {
  const space = getChoiceSpace('mobilenetv3-small-stem');
  const proxy = space.materialise(
    space.choicePoints.map(() => 0),
    { resolution: 32, classes: 10, name: 'phone-best' },
  );
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'nas-deployment-')), 'best.json');
  const deployment = { resolution: 224, classes: 1000, table: 'note10-not-imported', missing: 'estimate' };
  writeFileSync(file, JSON.stringify({ ...proxy, provenance: { ...proxy.provenance, deployment } }));
  for (const extra of [[], ['--json'], ['--breakdown'], ['--measure']]) {
    const refused = await nas('latency', '--arch', file, ...extra);
    t.is(refused.code, 2, `${extra.join(' ')}: ${refused.stderr}`);
    t.regex(
      refused.stderr,
      /^nas: phone-best was priced on table note10-not-imported \(its provenance\.deployment\.table\), which is not at \S*note10-not-imported\.json: give that table with --table FILE/,
    );
    t.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    t.is(refused.stdout, '');
  }
});

test('nas latency --measure against a table measured on another device is refused in one line before any timing', async (t) => {
  const spec = zooSpec('mobilenetv3-small-1.0');
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-deployment-'));
  const phone = {
    ...specTable(spec),
    name: 'phone',
    device: {
      name: 'Pixel 9 (browser)',
      runtime: 'tfjs-layers',
      backend: 'wasm',
      threads: 1,
      cpu: '8 cores',
      tfjsVersion: '4.22.0',
      date: 'now',
    },
  };
  const tableFile = path.join(dir, 'phone.json');
  writeFileSync(tableFile, JSON.stringify(phone));
  const priced = await nas('latency', '--arch', 'mobilenetv3-small-1.0', '--table', tableFile, '--quiet');
  t.is(priced.code, 0, priced.stderr);
  for (const extra of [[], ['--json'], ['--breakdown']]) {
    const refused = await nas('latency', '--arch', 'mobilenetv3-small-1.0', '--table', tableFile, '--measure', ...extra);
    t.is(refused.code, 2, refused.stderr);
    t.regex(
      refused.stderr,
      /^nas: --measure times the model on this machine \(.+\), and table phone was measured on Pixel 9 \(browser\): a time here is no check of its latency there; drop --measure, or price on a table profiled here \(--table FILE, written by nas profile\)\n$/,
    );
    t.is(refused.stdout, '');
  }
});
