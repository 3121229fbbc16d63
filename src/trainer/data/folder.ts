/**
 * A class-per-folder image directory: DIR/<class>/*.png|jpg|jpeg. If DIR has train/, validation/
 * (or val/) and test/ subfolders, those are the splits; otherwise images are split 80/10/10 per
 * class with a fixed seed. Images are decoded with pure-JS decoders (pngjs, jpeg-js), converted to
 * the channel count of the first image's kind (grey stays grey only if every image is grey) and
 * resized to a common square size (bilinear) at load time.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../../common/errors.js';
import { derive, shuffle } from '../../common/rng.js';
import { channelStats, type ImageDataset, type ImageSplit } from './dataset.js';

const IMAGE_EXT = /\.(png|jpe?g)$/i;

// The decoders load when a folder is read, not with every command that lists the datasets.
const require = createRequire(import.meta.url);
const pngjs = () => require('pngjs') as typeof import('pngjs');
const jpegJs = () => require('jpeg-js') as typeof import('jpeg-js');

interface Decoded {
  width: number;
  height: number;
  /** RGBA bytes. */
  rgba: Uint8Array;
}

function decode(file: string): Decoded {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as Error).message})`);
  }
  try {
    if (/\.png$/i.test(file)) {
      const png = pngjs().PNG.sync.read(bytes);
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
    }
    const img = jpegJs().decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512 });
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (err) {
    throw new InputError(`${file}: corrupt or unsupported image (${(err as Error).message}); remove or re-encode it`);
  }
}

function isGrey(img: Decoded): boolean {
  const { rgba } = img;
  for (let i = 0; i < rgba.length; i += 4) if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  return true;
}

/** Bilinear resize of RGBA into a size x size image with `channels` (1: grey from red, 3: RGB). */
function resizeInto(img: Decoded, size: number, channels: number, out: Uint8Array, offset: number): void {
  const sx = img.width / size;
  const sy = img.height / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.max(0, Math.min(img.height - 1, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(img.height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.max(0, Math.min(img.width - 1, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(img.width - 1, x0 + 1);
      const wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const at = (yy: number, xx: number) => img.rgba[(yy * img.width + xx) * 4 + c]!;
        const top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
        const bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        out[offset + (y * size + x) * channels + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
}

function listClasses(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory())
    .sort();
}

function listImages(dir: string, classNames: string[]): { file: string; label: number }[] {
  return classNames.flatMap((name, label) => {
    const classDir = path.join(dir, name);
    if (!existsSync(classDir)) return [];
    return readdirSync(classDir)
      .filter((f) => IMAGE_EXT.test(f))
      .sort()
      .map((f) => ({ file: path.join(classDir, f), label }));
  });
}

export function loadFolder(dir: string, size: number): ImageDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`dataset folder:${dir}: no such directory`);
  const splitDirs = {
    train: path.join(dir, 'train'),
    validation: existsSync(path.join(dir, 'validation')) ? path.join(dir, 'validation') : path.join(dir, 'val'),
    test: path.join(dir, 'test'),
  };
  const presplit = Object.values(splitDirs).every((d) => existsSync(d));
  const classNames = listClasses(presplit ? splitDirs.train : dir);
  if (classNames.length < 2)
    throw new InputError(`dataset folder:${dir}: expected one subfolder per class (at least 2), found ${classNames.length}`);

  let files: Record<'train' | 'validation' | 'test', { file: string; label: number }[]>;
  if (presplit) {
    files = {
      train: listImages(splitDirs.train, classNames),
      validation: listImages(splitDirs.validation, classNames),
      test: listImages(splitDirs.test, classNames),
    };
  } else {
    files = { train: [], validation: [], test: [] };
    const all = listImages(dir, classNames);
    classNames.forEach((_, label) => {
      const mine = shuffle(
        all.filter((f) => f.label === label),
        derive('folder-split-v1', label),
      ) as typeof all;
      const tenth = Math.max(1, Math.round(mine.length / 10));
      files.test.push(...mine.slice(0, tenth));
      files.validation.push(...mine.slice(tenth, 2 * tenth));
      files.train.push(...mine.slice(2 * tenth));
    });
  }
  for (const [name, list] of Object.entries(files)) {
    if (list.length === 0) throw new InputError(`dataset folder:${dir}: the ${name} split has no PNG/JPEG images`);
  }

  const decoded = {
    train: files.train.map((f) => decode(f.file)),
    validation: files.validation.map((f) => decode(f.file)),
    test: files.test.map((f) => decode(f.file)),
  };
  const channels = Object.values(decoded).every((list) => list.every(isGrey)) ? 1 : 3;
  const toSplit = (list: Decoded[], entries: { label: number }[]): ImageSplit => {
    const images = new Uint8Array(list.length * size * size * channels);
    list.forEach((img, i) => {
      resizeInto(img, size, channels, images, i * size * size * channels);
    });
    return { images, labels: Uint8Array.from(entries, (e) => e.label), count: list.length };
  };
  const train = toSplit(decoded.train, files.train);
  return {
    name: `folder:${dir}`,
    classNames,
    height: size,
    width: size,
    channels,
    train,
    validation: toSplit(decoded.validation, files.validation),
    test: toSplit(decoded.test, files.test),
    ...channelStats(train, channels),
    splitNote: presplit ? 'train/, validation/, test/ subfolders' : '80/10/10 per class, seed "folder-split-v1"',
  };
}
