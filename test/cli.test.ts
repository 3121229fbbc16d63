import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { nas } from './helpers/cli.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-cli-'));

test('nas specs --json writes every zoo spec and prints one JSON array', async (t) => {
  const dir = tmp();
  const { code, stdout } = await nas('specs', '--out', dir, '--json');
  t.is(code, 0);
  const rows = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>[];
  t.is(rows.length, 23);
  for (const row of rows) {
    t.deepEqual(Object.keys(row), ['name', 'params', 'madds', 'resolution', 'classes', 'file']);
    t.true(existsSync(row.file as string));
  }
  const large = rows.find((r) => r.name === 'mobilenetv3-large-1.0')!;
  t.is(large.params, 5_483_032);
  const spec = JSON.parse(readFileSync(large.file as string, 'utf8'));
  t.regex(spec.provenance.command, /^nas specs/);
  t.true(
    readFileSync(path.join(dir, 'TABLE.md'), 'utf8').includes(
      '| mobilenetv3-large-1.0 | 224x224, 1000 classes | 5,483,032 | 216.6M | 5.4M | 219M |',
    ),
  );
});

test('nas specs --list prints the zoo names one per line; with --json as a JSON array', async (t) => {
  const plain = await nas('specs', '--list');
  const json = await nas('specs', '--list', '--json');
  t.is(json.code, 0, json.stderr);
  t.deepEqual(JSON.parse(json.stdout), plain.stdout.trim().split('\n'));
});

test('nas specs --resolution --classes changes the input and the head', async (t) => {
  const dir = tmp();
  const { code, stdout } = await nas('specs', 'mobilenetv3-small-1.0', '--out', dir, '--resolution', '96', '--classes', '10', '--json');
  t.is(code, 0);
  const [row] = JSON.parse(stdout) as { resolution: number; classes: number; params: number }[];
  t.is(row!.resolution, 96);
  t.is(row!.classes, 10);
  t.is(row!.params, 2_542_856 - 1024 * 990 - 990);
});

test('nas validate: exit 0 for a good spec, exit 2 with file and field for a bad one', async (t) => {
  const dir = tmp();
  await nas('specs', 'mobilenetv3-large-1.0', '--out', dir);
  const goodFile = path.join(dir, 'mobilenetv3-large-1.0.json');
  const ok = await nas('validate', goodFile);
  t.is(ok.code, 0);
  t.regex(ok.stdout, /valid archspec "mobilenetv3-large-1.0" \(5,483,032 params, 216\.6M MAdds\)/);

  const spec = JSON.parse(readFileSync(goodFile, 'utf8'));
  spec.blocks[3].stride = 3;
  const badFile = path.join(dir, 'bad.json');
  writeFileSync(badFile, JSON.stringify(spec));
  const bad = await nas('validate', badFile);
  t.is(bad.code, 2);
  t.is(bad.stderr.trim().split('\n').length, 1);
  t.regex(
    bad.stderr,
    new RegExp(`^nas: ${badFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\$\\.blocks\\[3\\]\\.stride: expected one of 1\\|2, got 3`),
  );
});

test('nas validate: malformed JSON and missing files exit 2 with one line', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'broken.json');
  writeFileSync(file, '{"schemaVersion": 1,\n  "kind": }');
  const broken = await nas('validate', file);
  t.is(broken.code, 2);
  t.regex(broken.stderr, /broken\.json: not valid JSON at line 2/);
  const missing = await nas('validate', path.join(dir, 'nope.json'));
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nope\.json: no such file/);
});

test('nas validate of spaces, experiments and directories: the file, the JSON path and what was expected', async (t) => {
  const dir = tmp();
  const write = (name: string, data: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(data));
    return file;
  };
  const space = () => JSON.parse(readFileSync('experiments/spaces/mnasnet.json', 'utf8'));
  const cases: [string, RegExp][] = [
    [
      write('kernel.json', { ...space(), stages: space().stages.map((s: object, i: number) => (i === 2 ? { ...s, kernel: 4 } : s)) }),
      /kernel\.json: \$\.stages\[2\]\.kernel: expected one of 1\|3\|5\|7, got 4$/,
    ],
    [
      write('kernels.json', {
        ...space(),
        stages: space().stages.map((s: object, i: number) => (i === 2 ? { ...s, kernel: { choice: [3, 4] } } : s)),
      }),
      /kernels\.json: \$\.stages\[2\]\.kernel\.choice\[1\]: expected one of 1\|3\|5\|7, got 4$/,
    ],
    [
      write('delta.json', {
        ...space(),
        stages: space().stages.map((s: object, i: number) => (i === 2 ? { ...s, layerDelta: { choice: [-5, 0] } } : s)),
      }),
      /delta\.json: \$\.stages\[2\]\.layerDelta: -5 takes the stage's 3 base layers to -2: the lowest delta is -3/,
    ],
    [
      write('experiment.json', { ...JSON.parse(readFileSync('experiments/default.json', 'utf8')), space: 'nosuchspace' }),
      /experiment\.json: \$\.space: unknown space "nosuchspace": choose one of mnasnet, /,
    ],
    [dir, /: a directory; nas validate checks files: give them \(e\.g\. .*\*\.json\)$/],
  ];
  for (const [file, message] of cases) {
    const res = await nas('validate', file);
    t.is(res.code, 2, file);
    t.is(res.stderr.trim().split('\n').length, 1, res.stderr);
    t.regex(res.stderr.trim(), message);
  }
});

test('a file of another kind than the command reads is named for what it is, with the command that reads it, in one line', async (t) => {
  const dir = tmp();
  const run = path.join(dir, 'run.json');
  writeFileSync(run, JSON.stringify({ schemaVersion: 2, kind: 'search-run', experiment: {} }));
  const cases: [string[], RegExp][] = [
    [
      ['validate', run],
      /^nas: .*run\.json: a search run's record \(kind "search-run"\), not a spec, latency table, experiment or search space, which nas validate checks: nas search --resume \S+ continues the run; the spec it found is \S+best\.json$/,
    ],
    [['describe', run], /^nas: .*run\.json: a search run's record \(kind "search-run"\), not an ArchSpec: nas search --resume /],
    [
      ['describe', 'experiments/default.json'],
      /^nas: experiments\/default\.json: an experiment \(kind "experiment"\), not an ArchSpec: nas search --experiment experiments\/default\.json runs it$/,
    ],
    [
      ['space', 'describe', 'experiments/default.json'],
      /^nas: experiments\/default\.json: an experiment \(kind "experiment"\), not a search space: /,
    ],
    [
      ['search', '--experiment', run],
      /^nas: .*run\.json: a search run's record \(kind "search-run"\), not an experiment: nas search --resume /,
    ],
  ];
  for (const [args, message] of cases) {
    const res = await nas(...args);
    t.is(res.code, 2, args.join(' '));
    t.regex(res.stderr.trim(), message);
    t.is(res.stderr.trim().split('\n').length, 1, res.stderr);
  }
});

test('nas validate refuses what nas search would, naming the file and the field; paths in an experiment are from its directory', async (t) => {
  const dir = tmp();
  mkdirSync(path.join(dir, 'spaces'));
  copyFileSync('experiments/spaces/mnasnet.json', path.join(dir, 'spaces', 'mine.json'));
  const base = JSON.parse(readFileSync('experiments/default.json', 'utf8'));
  const write = (name: string, change: (e: typeof base) => void) => {
    const experiment = structuredClone(base);
    change(experiment);
    writeFileSync(path.join(dir, name), JSON.stringify(experiment));
    return path.join(dir, name);
  };
  const good = write('relative-space.json', (e) => (e.space = 'spaces/mine.json'));
  const cases: [string, RegExp][] = [
    [
      write('table.json', (e) => (e.latency.table = 'nosuch')),
      /table\.json: \$\.latency\.table: \S*tables\/nosuch\.json: no such latency table: give a table file or a name in tables\/ \(default/,
    ],
    [
      write('dataset.json', (e) => (e.proxy.dataset = 'mnist')),
      /dataset\.json: \$\.proxy\.dataset: unknown dataset "mnist": use one of fashion-mnist, /,
    ],
    [
      write('target.json', (e) => (e.reward.targetMs.spec = 'mobilenetv3-tiny')),
      /target\.json: \$\.reward\.targetMs\.spec: "mobilenetv3-tiny" is neither a zoo model name \(see nas specs --list\) nor a spec file$/m,
    ],
    [
      write('resolution.json', (e) => (e.proxy.resolution = 7)),
      /resolution\.json: \$\.proxy\.resolution: no member of space mobilenetv3-small-stem takes a 7x7 input \(Too small: expected number to be >=8, got 7\)$/m,
    ],
    [
      write('unreachable.json', (e) => (e.reward.targetMs = 0.01)),
      /unreachable\.json: \$\.reward\.targetMs: no architecture of space mobilenetv3-small-stem can meet the target of 0\.01 ms/,
    ],
    [
      write('missing-space.json', (e) => (e.space = 'spaces/absent.json')),
      new RegExp(`missing-space\\.json: \\$\\.space: ${path.join(dir, 'spaces', 'absent.json')}: no such search-space file$`, 'm'),
    ],
  ];
  const res = await nas('validate', good, ...cases.map(([file]) => file));
  t.is(res.code, 2, res.stderr);
  t.regex(res.stdout, /relative-space\.json: valid experiment "default" \(space mnasnet, /);
  t.is(res.stderr.trim().split('\n').length, cases.length, res.stderr);
  for (const [, message] of cases) t.regex(res.stderr, message);
});

test('nas validate --table checks an experiment as nas search --table runs it (a table not imported yet)', async (t) => {
  const file = path.join(tmp(), 'to-import.json');
  const experiment = JSON.parse(readFileSync('experiments/default.json', 'utf8'));
  experiment.latency = { ...experiment.latency, table: 'not-imported', obtain: 'import it first, or pass --table FILE' };
  writeFileSync(file, JSON.stringify(experiment));
  const refused = await nas('validate', file);
  t.is(refused.code, 2);
  t.regex(
    refused.stderr,
    /to-import\.json: \$\.latency\.table: \S*tables\/not-imported\.json: no such latency table; import it first, or pass --table FILE$/m,
  );
  const valid = await nas('validate', file, '--table', 'tables/default.json');
  t.is(valid.code, 0, valid.stderr);
  t.regex(valid.stdout, /to-import\.json: valid experiment "default" \(space \S+, .*, priced by default\)$/m);
});

test('nas describe prints the paper-style table; --json gives the numbers', async (t) => {
  const text = await nas('describe', 'mobilenetv3-large-1.0');
  t.is(text.code, 0);
  t.regex(text.stdout, /b4\s+56x56x24\s+bneck 5x5\s+72\s+40\s+yes\s+RE\s+2/);
  t.regex(text.stdout, /total\s+216\.6M\s+5,483,032/);
  const json = await nas('describe', 'mobilenetv3-small-1.0', '--json', '--resolution', '96');
  const d = JSON.parse(json.stdout) as { input: string; params: number; units: unknown[] };
  t.is(d.input, '96x96x3');
  t.is(d.params, 2_542_856);
  t.is(d.units.length, 16);
});

test('nas describe --compare puts a spec beside a reference, stage by stage; --json gives the rows and the summary', async (t) => {
  const text = await nas('describe', 'mobilenetv3-large-1.0', '--compare', 'mobilenetv3-small-1.0');
  t.is(text.code, 0, text.stderr);
  t.regex(
    text.stdout,
    /\| 5 \(\/32, 96 wide\) \| b9,b10,b11 vs b13,b14,b15 \| bneck \| 5 \| 6 \| on \| hswish \| 3 \| \*\*96 vs 160\*\* \|/,
  );
  t.regex(text.stdout, /found again: op in 4 of 5 stages, kernel in 2 of 5, .* width in 0 of 5; differs: /);
  const json = await nas('describe', 'mobilenetv3-small-1.0', '--compare', 'mobilenetv3-small-1.0', '--json');
  const c = JSON.parse(json.stdout) as { stages: unknown[]; summary: string };
  t.is(c.stages.length, 5);
  t.regex(c.summary, /differs: nowhere$/);
});

test('nas convert: JSON -> timm -> JSON and JSON -> mnasnet -> JSON give the same spec, provenance included', async (t) => {
  const dir = tmp();
  const original = path.join(dir, 'orig.json');
  await nas('convert', 'mobilenetv3-small-0.75', '--to', 'json', '--out', original);
  for (const format of ['timm', 'mnasnet']) {
    const strings = path.join(dir, `m.${format}.txt`);
    const back = path.join(dir, `back.${format}.json`);
    t.is((await nas('convert', original, '--to', format, '--out', strings)).code, 0);
    t.is((await nas('convert', strings, '--to', 'json', '--out', back)).code, 0);
    const a = JSON.parse(readFileSync(original, 'utf8'));
    const b = JSON.parse(readFileSync(back, 'utf8'));
    t.deepEqual(b, a, 'provenance too');
  }
});

test('unknown model, unknown option and missing command exit 2', async (t) => {
  const unknown = await nas('describe', 'mobilenetv9');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /mobilenetv9: no such file, and not a zoo model name \(see/);
  const mistyped = await nas('describe', 'mobilenetv3-large-1.1');
  t.is(mistyped.code, 2);
  t.regex(mistyped.stderr, /not a zoo model name \(did you mean mobilenetv3-large-1\.0\? see `nas specs --list`\)/);
  const option = await nas('specs', '--bogus');
  t.is(option.code, 2);
  t.regex(option.stderr, /^nas: unknown option --bogus \(see nas specs --help\)\n$/);
  t.is((await nas()).code, 2);
});
