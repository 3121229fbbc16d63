import { existsSync } from 'node:fs';
import type { CommandModule, Options } from 'yargs';
import { commandLine } from '../../common/command-line.js';
import { InputError } from '../../common/errors.js';
import { textTable } from '../../common/format.js';
import { DEFAULT_SPEED_GATE } from '../../latency-model/measure/speed-gate.js';
import type { Fidelity } from '../../latency-model/measure/validation.js';
import type { ValidationRunResult } from '../../latency-model/measure/validation-run.js';
import type { GateWait } from '../../latency-model/measure/whole-model.js';
import { loadTable } from '../../latency-model/predict/load-table.js';
import { atTableInput, type MissingOptions, type Prediction, predictLatency } from '../../latency-model/predict/predict.js';
import type { LatencyTable } from '../../latency-model/predict/table-schema.js';
import type { ArchSpec } from '../../search-space/archspec.js';
import { lackingOpsPricing } from '../../search-space/io.js';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, loadSpecArgument, printJson, specOverrideOptions } from '../common.js';
import { interruptSignal, ProgressReporter } from '../progress.js';
import { exclusiveFlags } from '../usage-errors.js';
import { backendOption } from './train.js';

interface PredictArgs {
  arch?: string;
  measure?: boolean;
  backend: BackendName | 'auto';
  table?: string;
  breakdown?: boolean;
  interpolate?: boolean;
  estimate?: boolean;
  json?: boolean;
  resolution?: number;
  classes?: number;
  minSpeed: number;
  maxWait: number;
}

/** When whole models are timed (validation, calibration): see latency-model/measure/whole-model.ts. */
export const speedGateOptions = {
  'min-speed': {
    type: 'number',
    default: DEFAULT_SPEED_GATE.minSpeed,
    describe:
      "time a model only while the machine runs at this fraction of its full speed (the table's, or on a slower host the fastest seen; speed probe)",
  },
  'max-wait': {
    type: 'number',
    default: DEFAULT_SPEED_GATE.maxWaitSeconds,
    describe: 'seconds to wait for that per model before timing it anyway',
  },
} as const;

interface ValidateArgs {
  table?: string;
  space: string;
  samples: number;
  seed: number;
  minSpeed: number;
  maxWait: number;
  backend: BackendName | 'auto';
  out: string;
  force?: boolean;
  resume?: boolean;
  json?: boolean;
}

/** What a wait at the speed gate is waiting for, in words (the limits are --min-speed and --max-wait). */
const gateWaitText = (w: GateWait) =>
  `speed gate: waiting for ${(100 * w.target).toFixed(0)}% of the table's speed (now ${(100 * w.speed).toFixed(0)}%) ${w.waitedSeconds.toFixed(0)}/${w.maxWaitSeconds} s`;

const fidelityText = (f: Fidelity) =>
  `${(100 * f.within5).toFixed(0)}% within +-5%, ${(100 * f.within10).toFixed(0)}% within +-10%, MAPE ${(100 * f.mape).toFixed(2)}%, Kendall tau ${f.kendallTau.toFixed(3)}`;

const VALIDATE_EXAMPLES = examples([
  ['$0 latency validate --samples 20 --out runs/validation', '20 random MobileNetV3-space models timed here against the embedded table'],
  [
    '$0 latency validate --samples 100 --force',
    'the same for 100, replacing results/latency-validation-default.json (the committed record)',
  ],
  ['$0 latency validate --table tables/mine.json --space zoo-neighbourhood --json', 'your table, on variations of the zoo models'],
]);

const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate',
  describe: "Measure random architectures whole and compare with the table's predictions",
  builder: (y) =>
    y
      .example(VALIDATE_EXAMPLES)
      .option('table', { type: 'string', describe: 'table file or name in tables/ (default: the embedded table)' })
      .option('space', {
        type: 'string',
        default: 'mobilenetv3',
        describe: 'where the architectures come from (a search space, or zoo-neighbourhood)',
      })
      .option('samples', { type: 'number', default: 100, describe: 'random architectures to measure' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random draw' })
      .options(speedGateOptions)
      .options(backendOption)
      .option('out', { type: 'string', default: 'results', describe: 'directory for latency-validation-<table>.{json,svg}' })
      .option('force', { type: 'boolean', describe: "replace the table's validation record already in --out (refused without it)" })
      .option('resume', {
        type: 'boolean',
        describe: "continue the table's interrupted validation in --out (its space, seed and --samples; the models timed are kept)",
      })
      .check(exclusiveFlags('resume', 'force'))
      .option('json', { type: 'boolean', describe: 'print the summary as one JSON line' }) as never,
  handler: action<ValidateArgs>(async (args, { log }) => {
    const table = loadTable(args.table);
    const [{ prepareBackend }, { runLatencyValidation }] = await Promise.all([
      import('../../trainer/backend.js'),
      import('../../latency-model/measure/validation-run.js'),
    ]);
    await prepareBackend(args.backend);
    const progress = new ProgressReporter(log);
    let measured = { done: 0, total: args.samples * 2 };
    const show = (wait?: GateWait) =>
      progress.update({
        fraction: measured.done / measured.total,
        // Each model is timed in two passes at least (a third for those not yet settled): progress counts timings.
        text: `timing ${measured.done}/${measured.total} (each model timed twice or more)${wait ? `; ${gateWaitText(wait)}` : ''}`,
        fields: {
          ...measured,
          ...(wait && {
            waitingForSpeed: wait.target,
            speed: wait.speed,
            waitedSeconds: wait.waitedSeconds,
            waitLeftInAll: wait.totalWaitLeftSeconds,
          }),
        },
      });
    let run: ValidationRunResult;
    try {
      run = await runLatencyValidation({
        table,
        space: args.space,
        samples: args.samples,
        seed: args.seed,
        dir: args.out,
        force: args.force,
        resume: args.resume,
        resumeWith: commandLine([
          'nas',
          'latency',
          'validate',
          '--out',
          args.out,
          ...(args.table ? ['--table', args.table] : []),
          '--resume',
        ]),
        gate: { minSpeed: args.minSpeed, maxWaitSeconds: args.maxWait },
        signal: interruptSignal(log),
        onProgress: (done, total) => {
          measured = { done, total };
          show();
        },
        onWait: show,
      });
    } finally {
      progress.done();
    }
    const { summary, files } = run;
    log.info({ ...summary, svg: files.plot }, 'validated');
    if (args.json) printJson(summary);
    else
      process.stdout.write(
        `${summary.samples} models (${summary.atFullSpeed} timed at full machine speed): ${fidelityText(summary)} at the table's machine speed; as timed: ${fidelityText(summary.raw)} (plot ${files.plot})\n`,
      );
  }),
};

/**
 * How ops the table lacks are priced: as --estimate / --interpolate say, else as the spec's
 * provenance records its latency was priced on this table (a search with `latency.missing:
 * "estimate"` priced them with the table's estimator: pricing it again gives the search's number).
 */
function missingOptions(args: PredictArgs, spec: ArchSpec, table: string): { options: MissingOptions; note: string | null } {
  const given = { interpolate: args.interpolate, estimate: args.estimate };
  if (args.estimate !== undefined || args.interpolate !== undefined) return { options: given, note: null };
  const pricing = lackingOpsPricing(spec, table);
  if (!pricing) return { options: given, note: null };
  const how = pricing === 'estimate' ? "estimated by the table's estimator" : 'interpolated';
  return {
    options: { [pricing]: true },
    note: `ops table ${table} lacks are ${how}, as when ${spec.name} was priced (provenance.deployment.missing: "${pricing}"; --no-${pricing} to refuse them)`,
  };
}

/** The table a spec's provenance says its latency was priced on (recordedTableFile), with a note saying so. */
async function recordedTable(spec: ArchSpec, specFile: string): Promise<{ table: LatencyTable; note: string } | null> {
  const { recordedTableFile } = await import('../../controller/search-run.js');
  const recorded = recordedTableFile(spec, existsSync(specFile) ? specFile : null);
  if (!recorded) return null;
  return {
    table: loadTable(recorded.file),
    note: `priced on table ${recorded.name} (${recorded.file}), as ${spec.name} was (provenance.deployment.table; --table to price on another)`,
  };
}

/**
 * --measure times the model on this machine: against a table measured on another device (a
 * phone's) that time says nothing of the table's latency, so it is refused, as validation is.
 */
async function refuseMeasuringElsewhere(table: LatencyTable): Promise<void> {
  const { profiledOnThisCpu, thisCpu } = await import('../../latency-model/predict/oracle.js');
  if (!profiledOnThisCpu(table))
    throw new InputError(
      `--measure times the model on this machine (${thisCpu()}), and table ${table.name} was measured on ${table.device.name}: a time here is no check of its latency there; drop --measure, or price on a table profiled here (--table FILE, written by nas profile)`,
    );
}

/**
 * `3 ops estimated, 1 interpolated`: the distinct ops (table keys) of a prediction not found in its
 * table, by how they were priced, as the refusal without --estimate counts them; `(in 5 layers)`
 * when some repeat.
 */
function estimatedText(prediction: Prediction): string {
  const keys = new Map<string, Set<string>>();
  let layers = 0;
  for (const op of prediction.ops) {
    if (op.source === 'measured') continue;
    keys.set(op.source, (keys.get(op.source) ?? new Set()).add(op.key));
    layers++;
  }
  const distinct = [...keys.values()].reduce((n, set) => n + set.size, 0);
  const counts = [...keys].map(([source, set], i) => `${set.size}${i === 0 ? ` op${set.size === 1 ? '' : 's'}` : ''} ${source}`);
  return counts.join(', ') + (layers > distinct ? ` (in ${layers} layers)` : '');
}

const LATENCY_EXAMPLES = examples([
  ['$0 latency --arch mobilenetv3-large-1.0', 'predicted latency on the embedded table'],
  [
    '$0 latency --arch my-spec.json --table note10.json --estimate --breakdown',
    "a phone's table, op by op; ops it lacks estimated (flagged)",
  ],
  ['$0 latency --arch mobilenetv3-small-1.0 --measure', 'also time the whole model on this machine'],
]);

/** The options of `nas latency` itself; not global, so `nas latency validate` does not inherit them. */
const predictOptions = Object.fromEntries(
  Object.entries({
    arch: { type: 'string', describe: 'ArchSpec JSON, block-string document, or zoo model name' },
    table: { type: 'string', describe: 'table file or name in tables/ (default: the embedded table)' },
    breakdown: { type: 'boolean', describe: 'per-op latencies' },
    estimate: {
      type: 'boolean',
      describe: "price ops missing from the table with the table's latency estimator (per op type, fitted on its entries; nas table fit)",
    },
    interpolate: {
      type: 'boolean',
      describe: 'price ops missing from the table between measured ops that differ only in widths (an alternative to --estimate)',
    },
    measure: {
      type: 'boolean',
      describe:
        'also time the whole model here, as validation does, against a table profiled here (behind the speed gate: --min-speed, --max-wait)',
    },
    ...speedGateOptions,
    ...backendOption,
    json: { type: 'boolean', describe: 'print the prediction as one JSON line' },
    ...specOverrideOptions,
  }).map(([name, option]) => [name, { ...option, global: false }]),
) as Record<string, Options>;

export const latencyCommand: CommandModule<object, PredictArgs> = {
  command: 'latency',
  describe: "Predict a spec's latency from a table (nas latency validate: check the predictor)",
  builder: (y) => y.command(validateCommand).example(LATENCY_EXAMPLES).options(predictOptions) as never,
  handler: action<PredictArgs>(async (args, { log }) => {
    if (!args.arch) throw new InputError('--arch is required (or use nas latency validate)');
    const given = loadSpecArgument(args.arch, args);
    const recorded = args.table === undefined ? await recordedTable(given, args.arch) : null;
    if (recorded) log.info(recorded.note);
    const { tableForSpecFile } = await import('../../netadapt/netadapt-run.js');
    const { table, note: tableNote } = tableForSpecFile(recorded?.table ?? loadTable(args.table), args.arch);
    if (tableNote) log.info(tableNote);
    if (args.measure) await refuseMeasuringElsewhere(table);
    const priced = atTableInput(given, table);
    if (priced.note) log.info(priced.note);
    const spec = priced.spec;
    const missing = missingOptions(args, spec, table.name);
    if (missing.note) log.info(missing.note);
    const prediction = predictLatency(spec, table, { ...missing.options, input: { arch: args.arch, resolutionOption: '--resolution' } });
    let measuredMs: number | undefined;
    let rawMs: number | undefined;
    if (args.measure) {
      const [{ prepareBackend }, { timeAgainstTable }] = await Promise.all([
        import('../../trainer/backend.js'),
        import('../../latency-model/measure/whole-model.js'),
      ]);
      const backend = await prepareBackend(args.backend);
      // Same machine, another backend: timed, with a warning (the table's backend may be unavailable here).
      if (backend.backend !== table.device.backend)
        log.warn({ table: table.device.backend, here: backend.backend }, "measuring on another backend than the table's");
      // The protocol of validation: timed until two timings agree, the fastest kept.
      const [timing] = await timeAgainstTable([spec], table, { minSpeed: args.minSpeed, maxWaitSeconds: args.maxWait });
      ({ rawMs, measuredMs } = timing!);
    }
    if (args.json) {
      printJson({
        spec: spec.name,
        latencyMs: prediction.totalMs,
        measuredMs,
        rawMs,
        ...prediction,
        ops: args.breakdown ? prediction.ops : undefined,
      });
      return;
    }
    if (args.breakdown) {
      const rows = prediction.ops.map((o) => [
        o.id,
        o.ms.toFixed(3),
        o.source === 'measured' ? '' : [o.source, ...(o.caveats ?? [])].join('; '),
        o.key,
      ]);
      rows.push(['overhead', prediction.overheadMs.toFixed(3), '', '']);
      process.stdout.write(`${textTable(['op', 'ms', 'note', 'key'], rows)}\n`);
    }
    const note = prediction.estimated.length ? ` (${estimatedText(prediction)}: not in the table)` : '';
    const caveats = new Set(prediction.ops.flatMap((o) => o.caveats ?? []));
    if (caveats.size)
      log.warn(
        `table ${table.name} prices some ops only roughly: ${[...caveats].join('; ')} (a cost no entry shows is not in the estimate)`,
      );
    const measured =
      measuredMs === undefined
        ? ''
        : `, measured ${measuredMs.toFixed(2)} ms here at the table's machine speed (${rawMs!.toFixed(2)} ms as timed)`;
    process.stdout.write(`${spec.name}: ${prediction.totalMs.toFixed(2)} ms on ${table.device.name} [${table.name}]${measured}${note}\n`);
  }),
};
