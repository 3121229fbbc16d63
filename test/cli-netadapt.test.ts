import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { nas } from './helpers/cli.js';
import { specTable } from './helpers/tables.js';
import { tinySpec } from './helpers/tiny.js';

test('nas netadapt: a trained seed shrinks to the target; --json reports the run; bad targets exit 2', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-cli-netadapt-'));
  const spec = tinySpec({ resolution: 28, channels: 1, name: 'seed' });
  const specFile = path.join(dir, 'seed.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const tableFile = path.join(dir, 'table.json');
  writeFileSync(tableFile, JSON.stringify(specTable(spec)));
  const seedRun = path.join(dir, 'seed-run');
  const trained = await nas(
    'train',
    '--arch',
    specFile,
    '--epochs',
    '1',
    '--train-samples',
    '128',
    '--validation-samples',
    '64',
    '--out',
    seedRun,
  );
  t.is(trained.code, 0, trained.stderr);
  const common = [
    'netadapt',
    '--arch',
    specFile,
    '--checkpoint',
    seedRun,
    '--table',
    tableFile,
    '--latency-resolution',
    '28',
    '--latency-classes',
    '10',
    '--finetune-steps',
    '2',
    '--validation-samples',
    '64',
    '--parallel',
    '1',
    '--delta-ratio',
    '0.05',
  ];
  const out = path.join(dir, 'na');
  const res = await nas(...common, '--target-ratio', '0.8', '--out', out, '--json');
  t.is(res.code, 0, res.stderr);
  const summary = JSON.parse(res.stdout.trim().split('\n').pop()!);
  t.deepEqual(Object.keys(summary), ['steps', 'seedLatencyMs', 'finalLatencyMs', 'seedAccuracy', 'finalAccuracy', 'spec']);
  t.true(summary.finalLatencyMs <= 0.8 * summary.seedLatencyMs + 1e-9);
  t.true(summary.steps >= 1);
  t.true(existsSync(summary.spec));
  const validated = await nas('validate', summary.spec);
  t.is(validated.code, 0);

  const above = await nas(...common, '--target-ms', '1000', '--out', path.join(dir, 'x'));
  t.is(above.code, 2);
  t.regex(above.stderr, /not below the seed's/);
  const both = await nas(...common, '--out', path.join(dir, 'y'));
  t.is(both.code, 2);
  t.regex(both.stderr, /exactly one of --target-ms and --target-ratio/);
});
