import path from 'node:path';
import { PROJECT_ROOT } from '../../common/version.js';

/** Where converted datasets are cached: $NAS_CACHE_DIR, else node_modules/.cache of the project. */
export function cacheDir(): string {
  return process.env['NAS_CACHE_DIR'] ?? path.join(PROJECT_ROOT, 'node_modules', '.cache', 'mobilenetv3-nas');
}
