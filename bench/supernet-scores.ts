/**
 * What a trained supernet says about members of its space: the run's ranked candidates, members
 * given by choice strings, and uniform members within a band of the run's target latency, each
 * scored as the search scores them (inherited weights, batch norm recalibrated, top-1 on the run's
 * ranking images), beside its latency and parameter count. A look at a search's signal: does it
 * score its own mode above members it was not trained on, and does it follow capacity?
 * (results/supernet.md, "Random search in the space").
 *
 *   node dist/bench/supernet-scores.js --run RUN_DIR [--random 16] [--band 0.1] [--choices 0120...,1021...]
 *
 * A choice string has one digit per choice point (the order of `nas space describe`). Prints a
 * markdown table and, per kind, the score range; Kendall tau-b of score against parameters over the
 * random members.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { readJsonFile } from '../src/common/json-io.js';
import { kendallTauB } from '../src/common/rank-correlation.js';
import { derive } from '../src/common/rng.js';
import { membersNear } from '../src/latency-model/predict/space-latency.js';
import { specCost } from '../src/search-space/cost.js';
import { openTrainedSupernet } from '../src/supernet/trained.js';
import { prepareBackend } from '../src/trainer/backend.js';
import { benchArguments, numberArgument } from './report.js';

const args = benchArguments({ run: '', random: '16', band: '0.1', choices: '' });
if (!args.run) {
  process.stderr.write('supernet-scores: --run RUN_DIR (a supernet search run) is required\n');
  process.exit(2);
}
const RANDOM = numberArgument(args, 'random');
const BAND = numberArgument(args, 'band');

interface Scored {
  kind: string;
  choices: number[];
  accuracy: number;
  latencyMs: number;
  params: number;
}

await prepareBackend('auto');
const trained = openTrainedSupernet(args.run);
const space = trained.supernet.space;
const score = (kind: string, choices: number[]): Scored => ({
  kind,
  choices,
  ...trained.evaluate(choices),
  params: specCost(trained.supernet.member(choices)).params,
});

const scored: Scored[] = [];
const candidatesFile = path.join(args.run, 'candidates.json');
if (existsSync(candidatesFile)) {
  const { candidates } = readJsonFile(candidatesFile) as { candidates: { rank: number; choices: number[] }[] };
  for (const c of candidates) scored.push(score(`candidate ${c.rank}`, c.choices));
}
for (const text of args.choices.split(',').filter(Boolean)) scored.push(score('given', [...text].map(Number)));
const band = { targetMs: trained.targetMs, tolerance: BAND };
for (const member of membersNear(space, trained.latencyMs, band, RANDOM, derive(0, 'supernet-scores')))
  scored.push(score('random', member.choices));
trained.dispose();

const kindOf = (s: Scored) => s.kind.split(' ')[0]!;
const percent = (x: number) => (100 * x).toFixed(1);
process.stdout.write(
  `${markdownTable(
    ['member', 'choices', 'latency ms', 'params M', 'inherited top-1 %'],
    scored.map((s) => [s.kind, s.choices.join(''), s.latencyMs.toFixed(2), (s.params / 1e6).toFixed(2), percent(s.accuracy)]),
  )}\n\n`,
);
for (const kind of [...new Set(scored.map(kindOf))]) {
  const accuracies = scored.filter((s) => kindOf(s) === kind).map((s) => s.accuracy);
  process.stdout.write(
    `- ${kind}: ${accuracies.length} scored, ${percent(Math.min(...accuracies))}-${percent(Math.max(...accuracies))}%\n`,
  );
}
const random = scored.filter((s) => s.kind === 'random');
process.stdout.write(
  `- random members within ${100 * BAND}% of ${trained.targetMs.toFixed(2)} ms: Kendall tau-b of score against parameters ${kendallTauB(
    random.map((s) => s.accuracy),
    random.map((s) => s.params),
  ).toFixed(3)}\n`,
);
