/**
 * The closing report of a finished pipeline, from its durable state (pipeline.json and the stages'
 * run directories): one table, stage by stage (architecture name and spec hash, params and MAdds
 * at the table's input, predicted and measured latency, validation and test top-1, wall time);
 * beside it the zoo models within +-window of the final model's predicted latency on the same
 * table, trained with the standalone training's recipe (zoo-cache.ts: cached by spec hash and
 * recipe hash, so a second pipeline trains none of them again); and an accuracy-vs-latency plot
 * of the same points; and the final model beside a hand-written reference (the pipeline section's
 * `reference`, by default the reward's target spec), stage by stage (search-space/stage-compare.ts).
 * Written as report.json (schema version), report.md and report.svg in the pipeline's directory
 * (file names in pipeline-run.ts), atomically; rewriting it is cheap.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { countOf, formatCount, formatShare } from '../common/format.js';
import { writeFileAtomic, writeJsonAtomic } from '../common/json-io.js';
import type { Logger } from '../common/log.js';
import { scatterPlot } from '../common/svg.js';
import { TOOL_NAME } from '../common/version.js';
import type { Experiment } from '../controller/experiment.js';
import { SearchRunDir } from '../controller/search-run.js';
import { deployedLatencyMs } from '../latency-model/predict/predict.js';
import type { LatencyTable } from '../latency-model/predict/table-schema.js';
import type { ArchSpec } from '../search-space/archspec.js';
import { specCost } from '../search-space/cost.js';
import { readArchSpec, withInput } from '../search-space/io.js';
import { specHash } from '../search-space/spec-hash.js';
import { compareStages, comparisonSummary, renderStageComparison, type StageComparison } from '../search-space/stage-compare.js';
import { isZooName, zooNames, zooSpec } from '../search-space/zoo/index.js';
import type { BackendName } from '../trainer/backend-names.js';
import { resolveCheckpointDir } from '../trainer/checkpoint.js';
import { PIPELINE_RUN_FILES, type PipelineRecord, type PipelineRunDir } from './pipeline-run.js';
import { recipeHash, trainedZooModel, ZooCacheDir, type ZooRecipe } from './zoo-cache.js';

/** The zoo comparison of a pipeline section without `zoo`. */
export const DEFAULT_ZOO_SETTINGS = { train: true, window: 0.1 } as const;

/** One architecture of the report: a stage's, or a zoo model's. */
export interface ReportRow {
  /** The stage (search, train, netadapt, final) or `zoo`. */
  stage: string;
  state: string;
  /** Why a stage was skipped, or what a number means (the search's accuracy is its proxy's). */
  note: string | null;
  spec: string | null;
  /** At the table's resolution and classes, like params and MAdds. */
  specHash: string | null;
  params: number | null;
  madds: number | null;
  predictedMs: number | null;
  /** Timed on this machine (null: not timed, or the table is another machine's). */
  measuredMs: number | null;
  valTop1: number | null;
  testTop1: number | null;
  wallSeconds: number | null;
}

export interface PipelineReport {
  schemaVersion: 1;
  kind: 'pipeline-report';
  tool: string;
  pipeline: string;
  experiment: string;
  table: string;
  targetMs: number;
  /** Why the final model has no measured latency (null when it has one). */
  measuredNote: string | null;
  stages: ReportRow[];
  zoo: {
    window: number;
    /** False: the zoo models in the window are listed untrained (--no-zoo, or the pipeline section's zoo.train). */
    trained: boolean;
    recipe: ZooRecipe;
    recipeHash: string;
    cacheDir: string;
    /** Of the models trained for this report, how many came from the cache. */
    cached: number;
    models: ReportRow[];
    /** Zoo models the table cannot price (ops it lacks). */
    unpriced: string[];
  };
  /**
   * The final model against the hand-written reference, stage by stage, with the one-line summary
   * (null: no reference). Added within schema version 1: readers of older reports find it absent.
   */
  comparison: (StageComparison & { summary: string }) | null;
}

/** The pipeline's latency target, which NetAdapt cuts toward and the report judges by: NetAdapt's, else the reward's. */
export function pipelineTarget(experiment: Experiment): Experiment['reward']['targetMs'] {
  return experiment.pipeline?.netadapt.targetMs ?? experiment.reward.targetMs;
}

/**
 * The hand-written model a pipeline's result is compared with: the pipeline section's `reference`
 * (a zoo name, or a spec file), by default the pipeline's target spec; null when neither names one.
 */
export function pipelineReference(experiment: Experiment): { name: string; spec: ArchSpec } | null {
  const given = experiment.pipeline?.reference;
  const target = pipelineTarget(experiment);
  const name = given === undefined ? (typeof target === 'number' ? null : target.spec) : given;
  if (name === null) return null;
  if (isZooName(name) && !existsSync(name)) return { name, spec: zooSpec(name) };
  if (!existsSync(name))
    throw new InputError(
      `${experiment.name}: pipeline.reference ${JSON.stringify(name)} is neither a zoo model name (see nas specs --list) nor a spec file`,
    );
  return { name, spec: readArchSpec(name) };
}

export interface PipelineReportRequest {
  run: PipelineRunDir;
  record: PipelineRecord;
  table: LatencyTable;
  targetMs: number;
  zoo: { train: boolean; window: number; cacheDir: string };
  backend: BackendName | 'auto';
  signal?: AbortSignal | undefined;
  log: Logger;
}

/** Builds the report of a finished pipeline (training the zoo models not in the cache) and writes its three files. */
export async function writePipelineReport(request: PipelineReportRequest): Promise<{ file: string; report: PipelineReport }> {
  const { run, record, table, targetMs } = request;
  const stages = stageRows(request);
  const evaluation = record.stages.evaluate.outputs;
  const recipe = zooRecipe(record);
  const zoo = await zooRows(request, recipe, Number(evaluation['predictedLatencyMs']));
  const reference = pipelineReference(record.experiment);
  const comparison = reference
    ? compareStages(readArchSpec(path.join(run.dir, String(evaluation['checkpoint']), 'spec.json')), reference.spec)
    : null;
  const report: PipelineReport = {
    schemaVersion: 1,
    kind: 'pipeline-report',
    tool: TOOL_NAME,
    pipeline: run.dir,
    experiment: record.experiment.name,
    table: table.name,
    targetMs,
    measuredNote: typeof evaluation['measuredNote'] === 'string' ? evaluation['measuredNote'] : null,
    stages,
    zoo: { ...request.zoo, trained: request.zoo.train, recipe, recipeHash: recipeHash(recipe), ...zoo },
    comparison: comparison ? { ...comparison, summary: comparisonSummary(comparison) } : null,
  };
  await writeFileAtomic(run.file('reportPlot'), reportPlot(report));
  await writeFileAtomic(run.file('reportMarkdown'), reportMarkdown(report));
  await writeJsonAtomic(run.file('report'), report);
  return { file: run.file('report'), report };
}

/** The standalone training's recipe, which the zoo models are trained with. */
function zooRecipe(record: PipelineRecord): ZooRecipe {
  const { epochs, trainSamples, resolution, seed } = record.experiment.pipeline!.train;
  return { dataset: record.experiment.proxy.dataset, epochs, resolution, seed, ...(trainSamples === undefined ? {} : { trainSamples }) };
}

type Architecture = Pick<ReportRow, 'spec' | 'specHash' | 'params' | 'madds'>;

/**
 * A spec's name and hash (of the spec as its stage wrote it, as pipeline.json records it), and its
 * params and MAdds at the table's resolution and classes.
 */
function architecture(record: PipelineRecord, spec: ArchSpec, source: string): Architecture {
  const { resolution, classes } = record.experiment.latency;
  const { params, madds } = specCost(withInput(spec, { resolution, classes }, source));
  return { spec: spec.name, specHash: specHash(spec), params, madds };
}

const NO_ARCHITECTURE: Architecture = { spec: null, specHash: null, params: null, madds: null };
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** One row per stage: the search's best, the standalone training, NetAdapt's result (or why it was skipped), the final model. */
function stageRows({ run, record, table }: PipelineReportRequest): ReportRow[] {
  const { search, train, netadapt, evaluate } = record.stages;
  const fromFile = (file: string) => architecture(record, readArchSpec(file), file);
  const row = (stage: string, fields: Partial<ReportRow>): ReportRow => ({
    stage,
    state: record.stages[stage === 'final' ? 'evaluate' : (stage as 'search')].state,
    note: null,
    ...NO_ARCHITECTURE,
    predictedMs: null,
    measuredMs: null,
    valTop1: null,
    testTop1: null,
    wallSeconds: null,
    ...fields,
  });
  const trainedSpec = path.join(resolveCheckpointDir(run.stageDir('train')), 'spec.json');
  const finalFromTrain = evaluate.outputs['from'] === 'train';
  const trainedMeasured = finalFromTrain ? evaluate.outputs['measuredLatencyMs'] : evaluate.outputs['trainedMeasuredLatencyMs'];
  const netadaptRow =
    netadapt.state === 'skipped'
      ? row('netadapt', { note: netadapt.reason ?? null, wallSeconds: netadapt.wallSeconds })
      : row('netadapt', {
          ...fromFile(path.join(run.dir, String(netadapt.outputs['spec']))),
          ...netadaptRowAccuracy(netadapt.outputs),
          predictedMs: num(netadapt.outputs['finalLatencyMs']),
          measuredMs: num(evaluate.outputs['measuredLatencyMs']),
          wallSeconds: netadapt.wallSeconds,
        });
  return [
    row('search', {
      ...fromFile(new SearchRunDir(run.stageDir('search')).file('best')),
      note: "validation top-1 is the search's proxy training's",
      predictedMs: num(search.outputs['latencyMs']),
      // The standalone training trains the search's best as it is: the same network at the table's input.
      measuredMs: num(trainedMeasured),
      valTop1: num(search.outputs['accuracy']),
      wallSeconds: search.wallSeconds,
    }),
    row('train', {
      ...fromFile(trainedSpec),
      predictedMs: predictLatencyAtTable(record, readArchSpec(trainedSpec), trainedSpec, table),
      measuredMs: num(trainedMeasured),
      valTop1: num(train.outputs['valTop1']),
      testTop1: num(train.outputs['testTop1']),
      wallSeconds: train.wallSeconds,
    }),
    netadaptRow,
    row('final', {
      ...fromFile(path.join(run.dir, String(evaluate.outputs['checkpoint']), 'spec.json')),
      note: `from ${String(evaluate.outputs['from'])}`,
      predictedMs: num(evaluate.outputs['predictedLatencyMs']),
      measuredMs: num(evaluate.outputs['measuredLatencyMs']),
      valTop1: finalFromTrain ? num(train.outputs['valTop1']) : num(netadapt.outputs['valTop1']),
      testTop1: num(evaluate.outputs['testTop1']),
      wallSeconds: evaluate.wallSeconds,
    }),
  ];
}

/**
 * The NetAdapt row's accuracy: after its last step's short fine-tune, no test score (the final row
 * has the final training's). Pipelines recorded before that was kept show the final training's.
 */
function netadaptRowAccuracy(outputs: Record<string, unknown>): Pick<ReportRow, 'valTop1' | 'note'> {
  const adapted = num(outputs['adaptedValTop1']);
  if (adapted === null) return { valTop1: num(outputs['valTop1']), note: 'validation top-1 after the final training' };
  return { valTop1: adapted, note: "validation top-1 after the last step's short fine-tune; the final row's after the final training" };
}

/** A spec's predicted latency at the table's resolution and classes (null when the table cannot price it). */
function predictLatencyAtTable(record: PipelineRecord, spec: ArchSpec, source: string, table: LatencyTable): number | null {
  try {
    return deployedLatencyMs(spec, table, record.experiment.latency, source);
  } catch {
    return null;
  }
}

/** The zoo models within the window of the final latency, each trained with the recipe (from the cache when it holds it). */
async function zooRows(
  request: PipelineReportRequest,
  recipe: ZooRecipe,
  finalMs: number,
): Promise<{ models: ReportRow[]; unpriced: string[]; cached: number }> {
  const { record, table, zoo } = request;
  const { resolution, classes } = record.experiment.latency;
  const models: ReportRow[] = [];
  const unpriced: string[] = [];
  let cached = 0;
  const cache = new ZooCacheDir(zoo.cacheDir);
  for (const name of zooNames()) {
    const spec = zooSpec(name);
    if (spec.task && spec.task.type !== 'classification') continue;
    const predictedMs = predictLatencyAtTable(record, zooSpec(name, { resolution, classes }), name, table);
    if (predictedMs === null) unpriced.push(name);
    if (predictedMs === null || Math.abs(predictedMs / finalMs - 1) > zoo.window) continue;
    const row: ReportRow = {
      stage: 'zoo',
      state: 'untrained',
      note: null,
      ...architecture(record, spec, name),
      predictedMs,
      measuredMs: null,
      valTop1: null,
      testTop1: null,
      wallSeconds: null,
    };
    // Without training (--no-zoo), the cache still shows what earlier pipelines trained with this recipe.
    const trained = zoo.train
      ? await trainedZooModel({ cache, spec, recipe, backend: request.backend, signal: request.signal, log: request.log })
      : { entry: cache.read(spec, recipe), cached: true };
    if (trained.entry) {
      if (trained.cached) cached++;
      const { valTop1, testTop1, wallSeconds } = trained.entry;
      Object.assign(row, { state: trained.cached ? 'cached' : 'trained', valTop1, testTop1, wallSeconds });
    }
    models.push(row);
  }
  return { models, unpriced, cached };
}

const fixed = (v: number | null, digits: number, scale = 1) => (v === null ? '-' : (v * scale).toFixed(digits));
const millions = (v: number | null) => (v === null ? '-' : `${(v / 1e6).toFixed(2)}M`);

function markdownRow(r: ReportRow): string {
  const cells = [
    r.stage,
    r.state,
    r.spec ?? '-',
    r.specHash ?? '-',
    r.params === null ? '-' : formatCount(r.params),
    millions(r.madds),
    fixed(r.predictedMs, 3),
    fixed(r.measuredMs, 3),
    fixed(r.valTop1, 2, 100),
    fixed(r.testTop1, 2, 100),
    r.wallSeconds === null ? '-' : `${Math.round(r.wallSeconds)} s`,
    r.note ?? '',
  ];
  return `| ${cells.join(' | ')} |`;
}

const TABLE_HEAD = [
  '| stage | state | architecture | spec hash | params | MAdds | predicted ms | measured ms | val top-1 % | test top-1 % | wall time | note |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
];

/** report.md: the stage table, the zoo table beside it and the plot. */
export function reportMarkdown(report: PipelineReport): string {
  const { zoo } = report;
  const recipe = `${countOf(zoo.recipe.epochs, 'epoch')} on ${zoo.recipe.trainSamples ?? 'all'} ${zoo.recipe.dataset} images at ${zoo.recipe.resolution}x${zoo.recipe.resolution}, seed ${zoo.recipe.seed}`;
  const zooLines = zoo.models.length
    ? [...TABLE_HEAD, ...zoo.models.map(markdownRow)]
    : [`No zoo model within +-${formatShare(zoo.window)} of the final model's predicted latency on ${report.table}.`];
  return [
    `# Pipeline ${report.experiment}: ${report.pipeline}`,
    '',
    `Latencies on table ${report.table} (target ${report.targetMs.toFixed(3)} ms), params and MAdds at the table's input.${report.measuredNote ? ` Not measured: ${report.measuredNote}.` : ''}`,
    '',
    ...TABLE_HEAD,
    ...report.stages.map(markdownRow),
    '',
    `## Zoo models within +-${formatShare(zoo.window)} of the final latency`,
    '',
    zoo.trained
      ? `Trained with the standalone recipe (${recipe}; cache ${zoo.cacheDir}, recipe ${zoo.recipeHash}, ${zoo.cached} of ${zoo.models.length} from the cache).`
      : `Not trained (--no-zoo or the pipeline section's zoo.train: false); ${zoo.cached} of ${zoo.models.length} trained with the standalone recipe by an earlier pipeline (${recipe}; cache ${zoo.cacheDir}).`,
    '',
    ...zooLines,
    ...(zoo.unpriced.length ? ['', `The table cannot price ${zoo.unpriced.length} zoo models: ${zoo.unpriced.join(', ')}.`] : []),
    '',
    `![accuracy vs latency](${PIPELINE_RUN_FILES.reportPlot})`,
    '',
    ...comparisonMarkdown(report.comparison),
  ].join('\n');
}

/** The section of the final model against the hand-written reference (one line when there is none). */
export function comparisonMarkdown(comparison: PipelineReport['comparison'], heading = '##'): string[] {
  if (!comparison)
    return ["No hand-written reference to compare with (the pipeline section's reference is null, or the target names no spec).", ''];
  return [
    `${heading} Against ${comparison.reference}, stage by stage`,
    '',
    `The final model (${comparison.found}) against ${comparison.reference}: ${comparison.summary}.`,
    '',
    `Stages: a new one at every stride-2 block and every change of output width (stem and head aside), paired by output stride. ${renderStageComparison(comparison, { summary: false })}`,
  ];
}

/** Test top-1 (validation for the search's best, which has no test score) against predicted latency. */
export function reportPlot(report: PipelineReport): string {
  const points = [...report.stages, ...report.zoo.models].flatMap((r) => {
    const top1 = r.testTop1 ?? r.valTop1;
    if (top1 === null || r.predictedMs === null) return [];
    const group = r.stage === 'zoo' ? 'zoo (same recipe)' : r.testTop1 === null ? 'search (proxy validation)' : 'pipeline stages';
    return [{ x: r.predictedMs, y: 100 * top1, group, label: `${r.stage}: ${r.spec}` }];
  });
  return scatterPlot(points.length ? points : [{ x: report.targetMs, y: 0, group: 'nothing scored' }], {
    title: `${report.experiment}: accuracy vs latency`,
    xLabel: `predicted latency on ${report.table} (ms)`,
    yLabel: 'test top-1 (%)',
  });
}
