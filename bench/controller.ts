/**
 * Controller throughput: architectures per second through sample -> materialise -> table latency ->
 * memoised accuracy -> reward -> controller update, for PPO, REINFORCE and random search (the
 * baseline: no controller cost). Accuracy comes from a memo filled by a cheap deterministic
 * surrogate, as a search sees it once children repeat. Records results/bench.md and
 * results/bench-controller.json.
 *
 *   node dist/bench/controller.js [--batch 64,512,2048] [--seconds 10] [--space mobilenetv3] [--backend cpu|wasm]
 */

import path from 'node:path';
import { markdownTable } from '../src/common/format.js';
import { PROJECT_ROOT, TOOL_NAME } from '../src/common/version.js';
import { DEFAULT_CONTROLLER } from '../src/controller/controller-settings.js';
import { type Algorithm, createPolicy, MIN_SHARD } from '../src/controller/policy.js';
import { reward } from '../src/controller/reward.js';
import { loadTable } from '../src/latency-model/predict/load-table.js';
import { predictLatency } from '../src/latency-model/predict/predict.js';
import { missingSpaceKeys } from '../src/latency-model/predict/space-latency.js';
import { specCost } from '../src/search-space/cost.js';
import { getChoiceSpace } from '../src/search-space/spaces.js';
import { specHash } from '../src/search-space/spec-hash.js';
import { prepareBackend } from '../src/trainer/backend.js';
import type { BackendName } from '../src/trainer/backend-names.js';
import { benchArguments, machineText, numberArgument, numbersArgument, writeBenchRecord, writeSection } from './report.js';

const args = benchArguments({ batch: '64,512,2048', seconds: '10', space: 'mobilenetv3', backend: 'auto' });
const batches = numbersArgument(args, 'batch');
const seconds = numberArgument(args, 'seconds');
const space = getChoiceSpace(args.space);

async function main() {
  const backend = await prepareBackend(args.backend as BackendName | 'auto');
  const table = loadTable();
  const missing = missingSpaceKeys(space, table, 224, 1000);
  if (missing.length) throw new Error(`the embedded table lacks ${missing.length} ops of ${space.name}`);
  const target = { targetMs: 20, constraint: 'soft' as const, w: -0.07 };
  const rows: { algorithm: Algorithm; batch: number; archsPerSec: number; msPerBatch: number; batches: number }[] = [];
  for (const batch of batches) {
    for (const algorithm of ['random', 'reinforce', 'ppo'] as const) {
      const policy = createPolicy(
        algorithm,
        space.choicePoints.map((c) => c.options.length),
        DEFAULT_CONTROLLER,
        0,
      );
      const memo = new Map<string, number>();
      const step = async (b: number) => {
        const sampled = await policy.sample(batch, b);
        const rewards = sampled.choices.map((choices) => {
          const spec = space.materialise(choices, { resolution: 224, classes: 1000 });
          const latency = predictLatency(spec, table).totalMs;
          const hash = specHash(spec);
          let accuracy = memo.get(hash);
          if (accuracy === undefined) {
            accuracy = 0.5 + 0.04 * Math.log10(specCost(spec).params);
            memo.set(hash, accuracy);
          }
          return reward(accuracy, latency, target);
        });
        await policy.update(sampled, rewards);
      };
      for (let b = 0; b < 3; b++) await step(b);
      const start = performance.now();
      let timed = 0;
      while (performance.now() - start < seconds * 1000) await step(100 + timed++);
      const ms = (performance.now() - start) / timed;
      rows.push({ algorithm, batch, archsPerSec: (batch * 1000) / ms, msPerBatch: ms, batches: timed });
      policy.dispose();
      console.error(`batch ${batch} ${algorithm}: ${((batch * 1000) / ms).toFixed(0)} architectures/s`);
    }
  }
  const randomAt = (batch: number) => rows.find((r) => r.algorithm === 'random' && r.batch === batch)!.archsPerSec;
  const report = [
    '## Controller throughput',
    '',
    `\`node dist/bench/controller.js\` (${TOOL_NAME}, ${new Date().toISOString().slice(0, 10)}): space ${space.name} (${space.choicePoints.length} choice points),`,
    `batches of ${batches.join(', ')}, each architecture materialised, its latency predicted from the embedded table (224x224, 1000 classes),`,
    `accuracy from a memo, rewarded; then one controller update per batch (PPO: ${DEFAULT_CONTROLLER.epochs} epochs). LSTM ${DEFAULT_CONTROLLER.hidden} hidden units;`,
    `batches of >= ${2 * MIN_SHARD} shared with ${DEFAULT_CONTROLLER.workers} worker thread(s).`,
    `${machineText()}, tfjs backend ${backend.backend}.`,
    '',
    markdownTable(
      ['batch', 'algorithm', 'architectures/s', 'ms per batch', 'batches timed', 'vs random search'],
      rows.map((r) => [
        String(r.batch),
        r.algorithm,
        r.archsPerSec.toFixed(0),
        r.msPerBatch.toFixed(1),
        String(r.batches),
        `${(r.archsPerSec / randomAt(r.batch)).toFixed(2)}x`,
      ]),
    ),
    '',
  ].join('\n');
  console.log(report);
  await writeBenchRecord(path.join(PROJECT_ROOT, 'results', 'bench-controller.json'), 'bench-controller', {
    space: space.name,
    batches,
    backend: backend.backend,
    rows,
  });
  await writeSection(report);
}

await main();
