/**
 * The spaces the published phone tables were measured for (Once-for-All's Note10 tables,
 * ProxylessNAS' mobile table), against the tables themselves. The tables are not shipped: these
 * tests read them from ../shared/reference/latency-tables and are skipped where it is absent.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { PROJECT_ROOT } from '../src/common/version.js';
import { readExperiment } from '../src/controller/experiment.js';
import { importTableToFile } from '../src/latency-model/predict/import.js';
import { opKey, unitOp } from '../src/latency-model/predict/ops.js';
import { fastestLatency, missingSpaceKeys } from '../src/latency-model/predict/space-latency.js';
import { tableHash } from '../src/latency-model/predict/table-ref.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { nas } from './helpers/cli.js';

const TABLES = path.join(PROJECT_ROOT, '..', 'shared', 'reference', 'latency-tables');
const present = existsSync(TABLES);
const phoneTest = present ? test.serial : test.serial.skip;
if (!present) test('published phone tables: skipped, ../shared/reference/latency-tables is absent', (t) => t.pass());

const CASES = [
  { space: 'ofa-mobilenetv3', format: 'ofa', file: 'ofa-note10-224.yaml', experiment: 'ofa-note10.json' },
  { space: 'proxylessnas', format: 'proxyless', file: 'proxylessnas-mobile.yaml', experiment: 'proxyless-mobile.json' },
] as const;

const dir = mkdtempSync(path.join(tmpdir(), 'nas-phone-'));

async function imported(c: (typeof CASES)[number]) {
  return importTableToFile({
    file: path.join(TABLES, c.file),
    format: c.format,
    command: 'test',
    out: path.join(dir, `${c.space}.json`),
    force: true,
  });
}

for (const c of CASES) {
  phoneTest(`every op of the ${c.space} space has a key in the imported ${c.file}`, async (t) => {
    const { table } = await imported(c);
    const space = getChoiceSpace(c.space);
    const keys = new Set([...space.units(224)].map((u) => opKey(unitOp(u))));
    const absent = [...keys].filter((k) => !table.entries[k]);
    t.deepEqual(absent, []);
    t.deepEqual(missingSpaceKeys(space, table, 224, 1000), []);
    const fastest = fastestLatency(space, table, 224, 1000);
    t.log(
      `${c.space}: ${space.choicePoints.length} choice points, 10^${space.log10Members.toFixed(2)} members (10^${space.log10Size.toFixed(2)} choice vectors), ${keys.size} ops, all in ${c.file} (${Object.keys(table.entries).length} entries); fastest member ${fastest.toFixed(2)} ms`,
    );
  });

  phoneTest(`a tiny search over ${c.space} priced by ${c.file} (nas search --table) runs to completion`, async (t) => {
    const { out, table } = await imported(c);
    const shipped = readExperiment(path.join(PROJECT_ROOT, 'experiments', c.experiment));
    const experimentFile = path.join(dir, c.experiment);
    const proxy = { ...shipped.proxy, train: { epochs: 1, trainSamples: 64, validationSamples: 32, batchSize: 16, augment: false } };
    writeFileSync(experimentFile, JSON.stringify({ ...shipped, budget: 2, batchSize: 2, parallel: 1, proxy }));
    const runDir = path.join(dir, `run-${c.space}`);
    const { code, stdout, stderr } = await nas('search', '--experiment', experimentFile, '--table', out, '--out', runDir, '--json');
    t.is(code, 0, stderr);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    t.is(result.trials, 2);
    const record = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    t.is(record.experiment.latency.table, out);
    t.like(record.table, {
      name: table.name,
      file: out,
      hash: tableHash(table),
      device: table.device.name,
      runtime: 'tflite',
      version: null,
    });
    t.log(`${c.space}: best of 2 at ${result.best.latencyMs.toFixed(2)} ms on ${c.file}`);
  });
}

phoneTest('a table and a space that do not match: one line with the count and the first missing key, exit 2', async (t) => {
  const { out } = await imported(CASES[1]);
  const { code, stderr } = await nas('search', '--experiment', 'experiments/ofa-note10.json', '--table', out, '--out', path.join(dir, 'x'));
  t.is(code, 2);
  t.regex(
    stderr.trim(),
    /^nas: table proxylessnas-mobile lacks 96 ops of space ofa-mobilenetv3 at 224x224 \(first missing: conv-in:224x224x3-out:24-k:3-s:2-act:hswish\): it was imported from .*, measured for space proxylessnas; search that space, give a table profiled for ofa-mobilenetv3 \(--table FILE\), or set latency\.missing to "estimate"$/,
  );
});
