/**
 * Progress display for long work: one redrawn line on an interactive terminal, a log line every
 * few seconds otherwise (CI logs, pipes).
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from '../common/log.js';
import { endStatus, showStatus } from '../common/status-line.js';
import type { TrainProgress } from '../trainer/train.js';

export interface ProgressLine {
  /** 0..1 */
  fraction: number;
  text: string;
  /** Structured fields for the non-interactive log line. */
  fields?: Record<string, unknown>;
}

export class ProgressReporter {
  private lastLog = 0;
  private readonly interactive = Boolean(process.stderr.isTTY);

  constructor(
    private readonly log: Logger,
    private readonly logEverySeconds = 10,
  ) {}

  update(line: ProgressLine): void {
    if (this.interactive) {
      const width = 24;
      const filled = Math.round(Math.min(1, Math.max(0, line.fraction)) * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      // A terminal that reports no size (0) gets a generous guess rather than an empty line.
      showStatus(fitToWidth(bar, line.text, process.stderr.columns || 120));
      return;
    }
    const now = Date.now();
    if (now - this.lastLog >= this.logEverySeconds * 1000) {
      this.lastLog = now;
      this.log.info({ progress: Number(line.fraction.toFixed(4)), ...line.fields }, line.text);
    }
  }

  /** Ends the redrawn line so following output starts on a fresh one; the next work's first update is logged at once. */
  done(): void {
    endStatus();
    this.lastLog = 0;
  }
}

/** Characters of a status line's end (its ETA) kept when the line is cut to the terminal's width. */
const KEPT_END = 16;

/**
 * The status line within `columns - 1` characters (a full-width line wraps on some terminals): the
 * bar and the text; too wide, the text alone; still too wide, the text cut in the middle so that
 * its end, the ETA or the count, stays.
 */
export function fitToWidth(bar: string, text: string, columns: number): string {
  const room = columns - 1;
  if (bar.length + 1 + text.length <= room) return `${bar} ${text}`;
  if (text.length <= room) return text;
  if (room <= KEPT_END + 1) return text.slice(-room);
  return `${text.slice(0, room - KEPT_END - 1)}…${text.slice(-KEPT_END)}`;
}

/** How far a training is, 0..1, from its progress (epochs count from 1, steps within the epoch from 1). */
export function trainingFraction(p: { epoch: number; epochs: number; step: number; stepsPerEpoch: number }): number {
  return ((p.epoch - 1) * p.stepsPerEpoch + p.step) / (p.epochs * p.stepsPerEpoch);
}

/** The status line of a training (`nas train`, the pipeline's standalone training), `label` before it. */
export function trainingProgressLine(p: TrainProgress, label = ''): ProgressLine {
  return {
    fraction: trainingFraction(p),
    text: `${label}epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(3)} acc ${(100 * p.accuracy).toFixed(1)}% lr ${p.learningRate.toPrecision(2)} ${p.imagesPerSec.toFixed(0)} img/s ETA ${formatDuration(p.etaSeconds)}`,
    fields: { epoch: p.epoch, step: p.step, loss: p.loss, accuracy: p.accuracy, imagesPerSec: p.imagesPerSec },
  };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
let interruptedBy: keyof typeof SIGNAL_EXIT_CODES | null = null;

/** The exit code of an interrupted command: 130 after SIGINT (Ctrl-C), 143 after SIGTERM, 129 after SIGHUP (its terminal closed). */
export function interruptExitCode(): number {
  return SIGNAL_EXIT_CODES[interruptedBy ?? 'SIGINT'];
}

/**
 * An AbortSignal that fires on the first SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal or SSH
 * session closed): the work saves what it has and stops. Saving takes a few seconds at most and its writes are atomic, so a second signal only
 * says so; a third quits at once (the files already written stay whole).
 */
export function interruptSignal(log: Logger): AbortSignal {
  const controller = new AbortController();
  let received = 0;
  const onSignal = (signal: keyof typeof SIGNAL_EXIT_CODES) => {
    received++;
    if (received === 1) {
      interruptedBy = signal;
      if (signal === 'SIGHUP') ignoreClosedTerminal();
      log.warn(`${signal}: stopping and saving progress`);
      controller.abort();
    } else if (received === 2) {
      log.warn('still saving progress: it takes a few seconds (interrupt once more to quit without waiting)');
    } else {
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  // Every evaluation in flight listens (NetAdapt fine-tunes one proposal per block at once), so
  // more than Node's default 10 listeners is normal here, not a leak.
  setMaxListeners(1000, controller.signal);
  return controller.signal;
}

/**
 * After a hang-up, writing to the terminal that is gone fails (EIO, EPIPE): those failures must not
 * end the process before it has saved its work; the logs and the status line are lost anyway.
 */
function ignoreClosedTerminal(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EIO' && err.code !== 'EPIPE') throw err;
    });
}
