/**
 * The values each number option accepts, checked as the command line is parsed so that a bad one
 * is refused naming its flag: the schemas behind the commands check them again, but their
 * messages name internal fields (`$.trainSamples`), some not given at all (`--finetune-steps 0`
 * becomes `trainSamples: 0`), and a few values reach code that fails without a word (a pool of
 * no workers). An option means the same in every command that has it.
 */

interface Range {
  integer?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
  /** What to give, for the message. */
  give: string;
}

const COUNT: Range = { integer: true, min: 1, give: 'a whole number, 1 or more' };
const COUNT_OR_NONE: Range = { integer: true, min: 0, give: 'a whole number, 0 or more' };
const POSITIVE: Range = { above: 0, give: 'a number above 0' };
const FRACTION: Range = { above: 0, below: 1, give: 'a number between 0 and 1' };
const SHARE: Range = { min: 0, below: 1, give: 'a number from 0 up to (not including) 1' };
/** A spec's input resolution (the ArchSpec schema's minimum). */
const PIXELS: Range = { integer: true, min: 8, give: 'a whole number of pixels, 8 or more' };

const RANGES: Record<string, Range> = {
  budget: COUNT,
  parallel: COUNT,
  threads: COUNT,
  samples: COUNT,
  calibration: COUNT_OR_NONE,
  seed: COUNT_OR_NONE,
  epochs: COUNT,
  'final-epochs': COUNT_OR_NONE,
  'warmup-epochs': { min: 0, give: 'a number, 0 or more' },
  'batch-size': { integer: true, min: 1, max: 4096, give: 'a whole number from 1 to 4096' },
  'train-samples': COUNT,
  'validation-samples': COUNT,
  'test-samples': COUNT,
  'final-samples': COUNT,
  'finetune-steps': COUNT,
  resolution: PIXELS,
  classes: { integer: true, min: 2, give: 'a whole number, 2 or more' },
  'latency-resolution': PIXELS,
  'latency-classes': COUNT,
  lr: POSITIVE,
  momentum: SHARE,
  'weight-decay': { min: 0, give: 'a number, 0 or more' },
  'label-smoothing': SHARE,
  'bn-momentum': FRACTION,
  ema: FRACTION,
  'target-ms': POSITIVE,
  'target-ratio': FRACTION,
  'delta-ratio': FRACTION,
  'delta-decay': { above: 0, max: 1, give: 'a number above 0, at most 1' },
  'min-speed': { above: 0, max: 1, give: 'a number above 0, at most 1' },
  'max-wait': { min: 0, give: 'a number of seconds, 0 or more' },
  port: { integer: true, min: 0, max: 65535, give: 'a port number from 0 to 65535 (0: any free port)' },
};

/** Why `--name value` is out of its range (null: in it, or an option without a range). */
export function rangeProblem(name: string, value: number): string | null {
  const range = RANGES[name];
  if (!range) return null;
  const outside =
    (range.integer && !Number.isInteger(value)) ||
    (range.min !== undefined && value < range.min) ||
    (range.max !== undefined && value > range.max) ||
    (range.above !== undefined && value <= range.above) ||
    (range.below !== undefined && value >= range.below);
  return outside ? `--${name} ${value}: give ${range.give}` : null;
}
