/**
 * Does the pipeline's final model beat what a user would otherwise pick? (issue 25's numbers)
 *
 * For each seed (default 0 and 1) the pipeline experiment (default experiments/pipeline-small.json)
 * runs end to end with that seed as its standalone-training seed (the search keeps the
 * experiment's seed, so both pipelines start from the same search). Its final model is compared
 * with (a) the search's best trained standalone with the same recipe (the pipeline's own train
 * stage) and (b) every zoo classifier within 5% of the final latency or below it, trained with
 * the same recipe and seed (through the pipelines' zoo cache, runs/zoo-cache). Mean test top-1
 * over the seeds goes to results/pipeline.md.
 *
 * Hours of work on 2 cores, so it runs in parts: each pipeline's outcome and each zoo training's
 * result is a JSON file under results/pipeline/vs-zoo/<experiment>/, skipped when present; an
 * interrupted pipeline or training continues from its run directory (same machine).
 *
 *   node dist/bench/pipeline-vs-zoo.js [--experiment experiments/pipeline-small.json] [--seeds 0,1]
 *       [--runs runs/pipeline-vs-zoo] [--longer-zoo N] [--report-only]
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { readJsonFile, writeJsonAtomic } from '../src/common/json-io.js';
import { createLogger } from '../src/common/log.js';
import { PROJECT_ROOT } from '../src/common/version.js';
import { type Experiment, readExperiment } from '../src/controller/experiment.js';
import { setupSearch } from '../src/controller/setup.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { runPipeline } from '../src/pipeline/pipeline.js';
import { comparisonMarkdown, type PipelineReport, type ReportRow } from '../src/pipeline/pipeline-report.js';
import { PIPELINE_RUN_FILES, PipelineRunDir } from '../src/pipeline/pipeline-run.js';
import { DEFAULT_ZOO_CACHE_DIR, trainedZooModel, ZooCacheDir, type ZooEntry, type ZooRecipe } from '../src/pipeline/zoo-cache.js';
import { zooSpec } from '../src/search-space/zoo/index.js';
import { benchArguments, machineText, numberArgument, numbersArgument, writeSection } from './report.js';
import { type PricedZooModel, zooLatencies } from './zoo-latencies.js';

const args = benchArguments(
  {
    experiment: path.join(PROJECT_ROOT, 'experiments', 'pipeline-small.json'),
    seeds: '0,1',
    runs: path.join(PROJECT_ROOT, 'runs', 'pipeline-vs-zoo'),
    'longer-zoo': '0',
  },
  ['report-only'],
);
const EXPERIMENT_FILE = args.experiment;
const SEEDS = numbersArgument(args, 'seeds');
const RUNS = args.runs;
const REPORT_ONLY = args['report-only'];
/**
 * The final model trains longer than the zoo's recipe (NetAdapt's fine-tunes and its final
 * training after the train stage): the N most accurate compared zoo models are also trained for
 * the train stage's epochs plus the final training's, as an equal-length comparison.
 */
const LONGER_ZOO = numberArgument(args, 'longer-zoo');
/** Zoo models up to this much slower than the final model are compared (the issue's "within 5% or below"). */
const WINDOW = 0.05;

const experiment = readExperiment(EXPERIMENT_FILE);
const PARTS = path.join(PROJECT_ROOT, 'results', 'pipeline', 'vs-zoo', experiment.name);
const table = loadTable(experiment.latency.table);
const log = createLogger({ level: 'info' });
/** The latency the pipeline's NetAdapt aims at (the reward's target). */
const targetMs = setupSearch(experiment, experiment.latency.classes).rewardSettings.targetMs;

interface PipelineOutcome {
  seed: number;
  dir: string;
  /** The closing report's stage rows (search, train, netadapt, final). */
  stages: ReportRow[];
  wallSeconds: number;
  /** The final model against the hand-written reference (absent from parts written before it was kept). */
  comparison?: PipelineReport['comparison'];
}

function withTrainSeed(seed: number): Experiment {
  const pipeline = experiment.pipeline;
  if (!pipeline) throw new Error(`${EXPERIMENT_FILE} has no pipeline section`);
  return { ...experiment, pipeline: { ...pipeline, train: { ...pipeline.train, seed } } };
}

function recipe(seed: number, epochs = experiment.pipeline!.train.epochs): ZooRecipe {
  const { trainSamples, resolution } = experiment.pipeline!.train;
  return { dataset: experiment.proxy.dataset, epochs, resolution, seed, ...(trainSamples === undefined ? {} : { trainSamples }) };
}

const partFile = (name: string) => path.join(PARTS, `${name}.json`);
const readPart = <T>(name: string): T | null => (existsSync(partFile(name)) ? (readJsonFile(partFile(name)) as T) : null);

/** Runs (or continues) the pipeline with one training seed, without its report's zoo training (done below, per seed). */
async function pipelineWithSeed(seed: number): Promise<PipelineOutcome> {
  const recorded = readPart<PipelineOutcome>(`pipeline-seed${seed}`);
  if (recorded) return recorded;
  const dir = path.join(RUNS, `${experiment.name}-seed${seed}`);
  const resume = new PipelineRunDir(dir).isRun();
  process.stderr.write(`pipeline ${experiment.name}, training seed ${seed}: ${dir}${resume ? ' (continued)' : ''}\n`);
  const result = await runPipeline({
    ...(resume ? { resume: dir } : { experiment: withTrainSeed(seed), experimentFile: EXPERIMENT_FILE, outDir: dir }),
    backend: 'auto',
    command: `node dist/bench/pipeline-vs-zoo.js --experiment ${path.relative(PROJECT_ROOT, EXPERIMENT_FILE)} --seeds ${seed}`,
    trainZoo: false,
    log,
  });
  const wallSeconds = Object.values(result.record.stages).reduce((sum, stage) => sum + stage.wallSeconds, 0);
  const { stages, comparison } = result.report;
  const outcome: PipelineOutcome = { seed, dir: path.relative(PROJECT_ROOT, dir), stages, wallSeconds, comparison };
  await writePipelinePart(outcome);
  return outcome;
}

const writePipelinePart = (outcome: PipelineOutcome) =>
  writeJsonAtomic(partFile(`pipeline-seed${outcome.seed}`), { schemaVersion: 1, kind: 'pipeline-vs-zoo-pipeline', ...outcome });

/** A part written before the comparison was kept gets it from its run's report.json while that run is on this machine. */
async function withComparison(outcome: PipelineOutcome): Promise<PipelineOutcome> {
  const reportFile = path.join(PROJECT_ROOT, outcome.dir, PIPELINE_RUN_FILES.report);
  if (outcome.comparison !== undefined || !existsSync(reportFile)) return outcome;
  const completed = { ...outcome, comparison: (readJsonFile(reportFile) as PipelineReport).comparison ?? null };
  await writePipelinePart(completed);
  return completed;
}

/** The final model's training length in epochs: the train stage's plus the final training's. */
const finalModelEpochs = () => experiment.pipeline!.train.epochs + (experiment.pipeline!.finalEpochs ?? 0);

const zooPart = (model: string, seed: number, epochs: number | null) =>
  `zoo-${model}-seed${seed}${epochs === null ? '' : `-epochs${epochs}`}`;

/** Trains (or reads from the zoo cache) one zoo model with one seed (and the recipe's epochs unless given), and records it as a part. */
async function zooWithSeed(model: string, seed: number, epochs: number | null = null): Promise<ZooEntry> {
  const recorded = readPart<ZooEntry>(zooPart(model, seed, epochs));
  if (recorded) return recorded;
  process.stderr.write(`zoo ${model}, seed ${seed}${epochs === null ? '' : `, ${epochs} epochs`}\n`);
  const cache = new ZooCacheDir(path.join(PROJECT_ROOT, DEFAULT_ZOO_CACHE_DIR));
  const { entry } = await trainedZooModel({ cache, spec: zooSpec(model), recipe: recipe(seed, epochs ?? undefined), backend: 'auto', log });
  await writeJsonAtomic(partFile(zooPart(model, seed, epochs)), entry);
  return entry;
}

/** A zoo model's test top-1 for each seed it has been trained with (the recipe's epochs unless given). */
const zooTop1s = (model: string, epochs: number | null) =>
  SEEDS.flatMap((seed) => readPart<ZooEntry>(zooPart(model, seed, epochs))?.testTop1 ?? []);

/** The `count` compared zoo models with the highest mean test top-1 over the seeds trained. */
function mostAccurateZoo(finalMs: number, count: number): string[] {
  return comparedZoo(finalMs)
    .map((z) => ({ model: z.model, top1: mean(zooTop1s(z.model, null)) }))
    .filter((z) => Number.isFinite(z.top1))
    .sort((a, b) => b.top1 - a.top1)
    .slice(0, count)
    .map((z) => z.model);
}

const stage = (outcome: PipelineOutcome, name: string) => outcome.stages.find((row) => row.stage === name)!;
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const percent = (xs: readonly number[]) => (xs.length ? `${(100 * mean(xs)).toFixed(2)}` : 'not trained yet');
const seedsOf = (xs: readonly number[]) => `${xs.map((x) => (100 * x).toFixed(2)).join(', ')} (${xs.length} of ${SEEDS.length})`;

/** The zoo models compared: within WINDOW of the first pipeline's final latency, or below it. */
function comparedZoo(finalMs: number): PricedZooModel[] {
  return zooLatencies(table, experiment.latency)
    .filter((z) => z.latencyMs <= finalMs * (1 + WINDOW))
    .sort((a, b) => a.latencyMs - b.latencyMs);
}

async function report(finalMs: number | null): Promise<void> {
  const recorded = SEEDS.map((seed) => readPart<PipelineOutcome>(`pipeline-seed${seed}`)).filter((p) => p !== null);
  const pipelines = await Promise.all(recorded.map(withComparison));
  const compared = pipelines.find((p) => p.comparison);
  const top1 = (rows: (ReportRow | undefined)[]) => rows.flatMap((r) => (r?.testTop1 == null ? [] : [r.testTop1]));
  const rows: string[][] = [];
  const finals = top1(pipelines.map((p) => stage(p, 'final')));
  const trains = top1(pipelines.map((p) => stage(p, 'train')));
  const ms = (rows: ReportRow[]) => rows.map((r) => r.predictedMs?.toFixed(2) ?? '-').join(', ');
  const offTarget = pipelines.map((p) => `${(100 * (stage(p, 'final').predictedMs! / targetMs - 1)).toFixed(2)}%`);
  rows.push([
    `**final model** (${offTarget.join(', ')} of the target)`,
    ms(pipelines.map((p) => stage(p, 'final'))),
    percent(finals),
    seedsOf(finals),
  ]);
  rows.push(["(a) the search's best, trained standalone", ms(pipelines.map((p) => stage(p, 'train'))), percent(trains), seedsOf(trains)]);
  const zoo = finalMs === null ? [] : comparedZoo(finalMs);
  for (const z of zoo) {
    const runs = zooTop1s(z.model, null);
    rows.push([`(b) ${z.model}`, z.latencyMs.toFixed(2), percent(runs), seedsOf(runs)]);
  }
  for (const z of zoo) {
    const runs = zooTop1s(z.model, finalModelEpochs());
    if (runs.length) rows.push([`(c) ${z.model}, ${finalModelEpochs()} epochs`, z.latencyMs.toFixed(2), percent(runs), seedsOf(runs)]);
  }
  const { epochs, trainSamples, resolution } = experiment.pipeline!.train;
  const section = [
    `## ${experiment.name} against the search's best and the zoo, seeds ${SEEDS.join(', ')}`,
    '',
    `\`node dist/bench/pipeline-vs-zoo.js --experiment ${path.relative(PROJECT_ROOT, EXPERIMENT_FILE)} --seeds ${SEEDS.join(',')}\` (${new Date().toISOString().slice(0, 10)}, ${machineText()}; parts in ${path.relative(PROJECT_ROOT, PARTS)}/).`,
    `Each seed is one whole pipeline run with that standalone-training seed (the search's seed unchanged). Recipe for every model: ${epochs} epochs of ${trainSamples ?? 'all'} ${experiment.proxy.dataset} images at ${resolution}x${resolution}, that seed; the final model also had NetAdapt's fine-tunes and its final training (${experiment.pipeline!.finalEpochs ?? 0} epochs)${rows.some((r) => r[0]!.startsWith('(c)')) ? `, so (c) trains the most accurate zoo models for ${finalModelEpochs()} epochs` : ''}. Test-split top-1. Target ${targetMs.toFixed(2)} ms. Latency: ${table.name} at ${experiment.latency.resolution}x${experiment.latency.resolution}, ${experiment.latency.classes} classes; zoo models within ${100 * WINDOW}% of the first pipeline's final latency${finalMs === null ? '' : ` (${finalMs.toFixed(2)} ms)`} or below it.`,
    '',
    markdownTable(['model', 'predicted ms', 'mean test top-1 %', 'per seed'], rows),
    '',
    ...pipelines.map(
      (p) =>
        `Pipeline seed ${p.seed} (${p.dir}): ${Math.round(p.wallSeconds)} s of stages, ${p.stages.map((r) => `${r.stage} ${r.wallSeconds === null ? '-' : Math.round(r.wallSeconds)} s`).join(', ')}.`,
    ),
    ...(compared ? ['', `Seed ${compared.seed}'s final model:`, '', ...comparisonMarkdown(compared.comparison!, '###')] : []),
  ];
  await writeSection(section.join('\n'), path.join(PROJECT_ROOT, 'results', 'pipeline.md'));
}

async function main(): Promise<void> {
  mkdirSync(PARTS, { recursive: true });
  const firstFinal = () => readPart<PipelineOutcome>(`pipeline-seed${SEEDS[0]}`);
  if (!REPORT_ONLY) {
    for (const seed of SEEDS) {
      await pipelineWithSeed(seed);
      // The first seed's pipeline ran first: its final latency fixes the zoo models compared.
      const finalMs = stage(firstFinal()!, 'final').predictedMs!;
      await report(finalMs);
      for (const z of comparedZoo(finalMs)) {
        await zooWithSeed(z.model, seed);
        await report(finalMs);
      }
    }
    const finalMs = stage(firstFinal()!, 'final').predictedMs!;
    for (const model of mostAccurateZoo(finalMs, LONGER_ZOO))
      for (const seed of SEEDS) {
        await zooWithSeed(model, seed, finalModelEpochs());
        await report(finalMs);
      }
  }
  const first = firstFinal();
  await report(first ? stage(first, 'final').predictedMs : null);
}

await main();
