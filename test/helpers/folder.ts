/** A tiny class-per-folder image dataset on disk (grey PNGs), for jobs that load their dataset by name. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { derive } from '../../src/common/rng.js';

/** Writes `perClass` grey `side`x`side` PNGs for each of `classes` classes (class-dependent brightness); returns the folder. */
export function tinyImageFolder(options: { classes?: number; perClass?: number; side?: number } = {}): string {
  const { classes = 2, perClass = 30, side = 16 } = options;
  const dir = mkdtempSync(path.join(tmpdir(), 'nas-folder-'));
  const rng = derive('tiny-image-folder');
  for (let label = 0; label < classes; label++) {
    const classDir = path.join(dir, `class${label}`);
    mkdirSync(classDir);
    for (let i = 0; i < perClass; i++) {
      const png = new PNG({ width: side, height: side });
      for (let p = 0; p < side * side; p++) {
        const v = Math.min(255, label * 120 + Math.floor(rng() * 80));
        png.data.set([v, v, v, 255], 4 * p);
      }
      writeFileSync(path.join(classDir, `${i}.png`), PNG.sync.write(png));
    }
  }
  return dir;
}
