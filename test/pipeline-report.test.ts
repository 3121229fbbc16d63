/**
 * The closing report's plot: points whose latencies differ only by rounding (a zoo model priced at
 * the final model's latency); its reference model and the section comparing the final model with it.
 */
import path from 'node:path';
import test from 'ava';
import { scatterPlot } from '../src/common/svg.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { type Experiment, readExperiment } from '../src/controller/experiment.js';
import { type PipelineReport, pipelineReference, reportMarkdown } from '../src/pipeline/pipeline-report.js';
import { compareStages, comparisonSummary } from '../src/search-space/stage-compare.js';
import { zooSpec } from '../src/search-space/zoo/index.js';

test('scatterPlot: x values equal up to rounding give a plot (the tick loop ran out of memory before)', (t) => {
  const x = 0.36539199999999994;
  const svg = scatterPlot(
    [
      { x, y: 10, group: 'pipeline stages' },
      { x: x + 5.551115123125783e-17, y: 10.5, group: 'zoo (same recipe)' },
    ],
    { title: 't', xLabel: 'ms', yLabel: '%' },
  );
  t.regex(svg, /^<svg/);
  t.true(svg.split('<text').length < 40, 'a handful of ticks');
});

test("pipelineReference: the pipeline section names it, or the pipeline's target spec (NetAdapt's, else the reward's); a number target names none", (t) => {
  const small = readExperiment(path.join(PROJECT_ROOT, 'experiments', 'v3-small-pipeline.json'));
  t.is(pipelineReference(small)?.name, 'mobilenetv3-small-1.0', 'the default: the target spec');
  t.is(pipelineReference(readExperiment(path.join(PROJECT_ROOT, 'experiments', 'v3-large-pipeline.json')))?.name, 'mobilenetv3-large-1.0');
  t.is(pipelineReference(readExperiment(path.join(PROJECT_ROOT, 'experiments', 'pipeline-small.json')))?.name, 'mobilenetv3-small-1.0');
  const withPipeline = (reference: string | null | undefined, targetMs: Experiment['reward']['targetMs']) => ({
    ...small,
    reward: { ...small.reward, targetMs },
    pipeline: { ...small.pipeline!, reference },
  });
  t.is(pipelineReference(withPipeline('mobilenetv3-large-1.0', 3))?.spec.name, 'mobilenetv3-large-1.0');
  t.is(pipelineReference(withPipeline(undefined, 3)), null);
  t.is(pipelineReference(withPipeline(null, { spec: 'mobilenetv3-small-1.0', scale: 1 })), null);
  t.throws(() => pipelineReference(withPipeline('no-such-model', 3)), { message: /pipeline\.reference "no-such-model" is neither/ });
  const shrunk = withPipeline(undefined, { spec: 'mobilenetv3-small-1.0', scale: 1 });
  shrunk.pipeline.netadapt = { ...shrunk.pipeline.netadapt, targetMs: { spec: 'mobilenetv3-small-0.75', scale: 1 } };
  t.is(pipelineReference(shrunk)?.name, 'mobilenetv3-small-0.75', "NetAdapt's target when it has its own");
});

test('report.md: the section against the reference, with its one-line summary and the stage table', (t) => {
  const changed = zooSpec('mobilenetv3-small-1.0');
  changed.name = 'found';
  changed.blocks = changed.blocks.map((b) => (b.id === 'b1' ? { ...b, kernel: 5 } : b));
  const comparison = compareStages(changed, zooSpec('mobilenetv3-small-1.0'));
  const report: PipelineReport = {
    schemaVersion: 1,
    kind: 'pipeline-report',
    tool: 'nas',
    pipeline: 'runs/p',
    experiment: 'e',
    table: 'default',
    targetMs: 1,
    measuredNote: null,
    stages: [],
    zoo: {
      window: 0.1,
      trained: false,
      recipe: { dataset: 'fashion-mnist', epochs: 1, resolution: 32, seed: 0 },
      recipeHash: 'h',
      cacheDir: 'c',
      cached: 0,
      models: [],
      unpriced: [],
    },
    comparison: { ...comparison, summary: comparisonSummary(comparison) },
  };
  const markdown = reportMarkdown(report);
  t.regex(
    markdown,
    /## Against mobilenetv3-small-1\.0, stage by stage\n\nThe final model \(found\) against mobilenetv3-small-1\.0: found again: op in 5 of 5 stages, kernel in 4 of 5, .*; differs: kernel in stage 1\.\n/,
  );
  t.regex(markdown, /\| 1 \(\/4, 16 wide\) \| b1 vs b1 \| dsconv \| \*\*3 vs 5\*\* \|/);
  t.regex(reportMarkdown({ ...report, comparison: null }), /No hand-written reference to compare with/);
});
