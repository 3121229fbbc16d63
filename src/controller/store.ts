/**
 * The trial store: one SQLite database per run directory. Every finished trial is committed the
 * moment it finishes (WAL journal), so killing the process at any time loses no finished trial.
 */

import Database from 'better-sqlite3';
import { InputError } from '../common/errors.js';

export interface Trial {
  trial: number;
  batch: number;
  slot: number;
  choices: number[];
  specHash: string;
  /** The trained (proxy) spec, JSON. */
  spec: string;
  latencyMs: number;
  accuracy: number;
  reward: number;
  logProb: number;
  trainSeconds: number;
  memoised: boolean;
  error: string | null;
  finishedAt: string;
}

interface Row {
  trial: number;
  batch: number;
  slot: number;
  choices: string;
  spec_hash: string;
  spec: string;
  latency_ms: number;
  accuracy: number;
  reward: number;
  log_prob: number;
  train_seconds: number;
  memoised: number;
  error: string | null;
  finished_at: string;
}

const fromRow = (r: Row): Trial => ({
  trial: r.trial,
  batch: r.batch,
  slot: r.slot,
  choices: JSON.parse(r.choices) as number[],
  specHash: r.spec_hash,
  spec: r.spec,
  latencyMs: r.latency_ms,
  accuracy: r.accuracy,
  reward: r.reward,
  logProb: r.log_prob,
  trainSeconds: r.train_seconds,
  memoised: r.memoised === 1,
  error: r.error,
  finishedAt: r.finished_at,
});

export class TrialStore {
  private readonly db: Database.Database;

  /** Opens (creating if needed) the store in `file`; a run's store is reached through SearchRunDir. */
  constructor(file: string) {
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS trials (
          trial INTEGER PRIMARY KEY, batch INTEGER NOT NULL, slot INTEGER NOT NULL,
          choices TEXT NOT NULL, spec_hash TEXT NOT NULL, spec TEXT NOT NULL,
          latency_ms REAL NOT NULL, accuracy REAL NOT NULL, reward REAL NOT NULL, log_prob REAL NOT NULL,
          train_seconds REAL NOT NULL, memoised INTEGER NOT NULL, error TEXT, finished_at TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS trials_hash ON trials (spec_hash);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    } catch (err) {
      throw new InputError(`${file}: not a usable trial store (${(err as Error).message})`);
    }
  }

  getMeta(key: string): string | null {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  add(t: Trial): void {
    this.db
      .prepare(
        `INSERT INTO trials (trial, batch, slot, choices, spec_hash, spec, latency_ms, accuracy, reward, log_prob, train_seconds, memoised, error, finished_at)
         VALUES (@trial, @batch, @slot, @choices, @specHash, @spec, @latencyMs, @accuracy, @reward, @logProb, @trainSeconds, @memoised, @error, @finishedAt)`,
      )
      .run({ ...t, choices: JSON.stringify(t.choices), memoised: t.memoised ? 1 : 0 });
  }

  get(trial: number): Trial | null {
    const row = this.db.prepare('SELECT * FROM trials WHERE trial = ?').get(trial) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  /** Accuracy already measured for an architecture (memoisation by spec hash). */
  accuracyOf(specHash: string): number | null {
    const row = this.db
      .prepare('SELECT accuracy FROM trials WHERE spec_hash = ? AND error IS NULL AND memoised = 0 LIMIT 1')
      .get(specHash) as { accuracy: number } | undefined;
    return row?.accuracy ?? null;
  }

  all(): Trial[] {
    return (this.db.prepare('SELECT * FROM trials ORDER BY trial').all() as Row[]).map(fromRow);
  }

  /** Removes trials from `trial` on (work done after the checkpoint a resumed run restarts from). */
  deleteFrom(trial: number): number {
    return this.db.prepare('DELETE FROM trials WHERE trial >= ?').run(trial).changes;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM trials').get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
