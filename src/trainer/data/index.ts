/** Dataset sources by name: `fashion-mnist`, `cifar10:PATH`, `folder:PATH`, `fashion-mosaic`. */
import { InputError } from '../../common/errors.js';
import { loadCifar10 } from './cifar10.js';
import type { ImageDataset } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadFolder } from './folder.js';
import { loadMosaics, MOSAIC_ITEM_SIZE, type MosaicDataset } from './mosaic.js';
import { pathSource, sourceOfDatasetName, unknownDatasetError } from './source.js';

export type { ImageDataset, ImageSplit, SplitName } from './dataset.js';
export type { MosaicDataset } from './mosaic.js';
export { canonicalDatasetSource, DATASET_FORMS } from './source.js';

/** What a training run learns from: labelled images, or mosaics with per-pixel labels. */
export type TrainingData = ImageDataset | MosaicDataset;

/**
 * Loads a dataset; `resolution` is the size folder images are resized to at load time, and the
 * canvas size of the mosaics (segmentation).
 */
export function loadDataset(source: string, resolution: number): TrainingData {
  if (source === 'fashion-mnist') return loadFashionMnist();
  if (sourceOfDatasetName(source) === 'fashion-mosaic') return mosaicsAt(source, resolution);
  const located = pathSource(source);
  if (located?.kind === 'cifar10') return loadCifar10(located.path);
  if (located?.kind === 'folder') return loadFolder(located.path, resolution);
  throw unknownDatasetError(source);
}

/**
 * The mosaics at the model's input size, by their source name or by the name a run recorded
 * (`fashion-mosaic-64`), which must then be the size asked for.
 */
function mosaicsAt(source: string, resolution: number): MosaicDataset {
  if (source !== 'fashion-mosaic' && source !== `fashion-mosaic-${resolution}`)
    throw new InputError(
      `${source}: the mosaics are drawn at the model's input size, ${resolution}x${resolution}: use --dataset fashion-mosaic`,
    );
  if (resolution < MOSAIC_ITEM_SIZE)
    throw new InputError(
      `fashion-mosaic needs an input of at least ${MOSAIC_ITEM_SIZE}x${MOSAIC_ITEM_SIZE} (its items are ${MOSAIC_ITEM_SIZE} px), got ${resolution}: use --resolution 64`,
    );
  return loadMosaics(resolution);
}
