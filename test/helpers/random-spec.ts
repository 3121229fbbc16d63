/** Random valid ArchSpecs for property tests: arbitrary widths, block types, SE, ids. */
import seedrandom from 'seedrandom';
import { ARCHSPEC_SCHEMA_VERSION, type ArchSpec, type Block, parseArchSpec } from '../../src/search-space/archspec.js';

export function randomSpec(seed: number, options: { canonicalIds?: boolean } = {}): ArchSpec {
  const rng = seedrandom(String(seed));
  const pick = <T>(values: readonly T[]): T => values[Math.floor(rng() * values.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const acts = ['relu', 'relu6', 'hswish', 'swish'] as const;
  const gate = pick(['hsigmoid', 'sigmoid'] as const);
  const seAct = pick(acts);
  let channels = int(1, 6) * 8;
  const stem = { id: 'stem', kernel: pick([3, 5] as const), stride: pick([1, 2] as const), out: channels, activation: pick(acts) };
  const blocks: Block[] = [];
  const count = int(1, 12);
  for (let i = 0; i < count; i++) {
    const type = pick(['conv', 'dsconv', 'bneck', 'bneck'] as const);
    const stride = pick([1, 1, 2] as const);
    const out = rng() < 0.5 ? channels : int(1, 40) * (rng() < 0.7 ? 8 : 1);
    const mid = type === 'bneck' ? int(1, 120) * (rng() < 0.7 ? 8 : 1) : type === 'dsconv' ? channels : out;
    const se = rng() < 0.4 ? { squeeze: Math.max(1, Math.round(mid * pick([0.25, 0.25, 0.125, 0.3]))), gate, activation: seAct } : null;
    const residual = stride === 1 && out === channels && rng() < 0.8;
    const id = options.canonicalIds === false ? `blk${int(0, 9)}${i}` : `b${i + 1}`;
    const common = { id, kernel: pick([1, 3, 5, 7] as const), stride, out, activation: pick(acts), se, residual };
    blocks.push(type === 'bneck' ? { type, ...common, exp: mid } : { type, ...common });
    channels = out;
  }
  const spec = {
    schemaVersion: ARCHSPEC_SCHEMA_VERSION,
    kind: 'archspec',
    name: `random-${seed}`,
    provenance: { command: 'test', seed },
    input: { resolution: pick([32, 64, 96, 224]), channels: pick([1, 3]) },
    stem,
    blocks,
    head: {
      conv: rng() < 0.8 ? { id: 'head_conv', out: int(1, 100) * 8, activation: pick(acts) } : null,
      pool: 'avg',
      preLogits: rng() < 0.5 ? { id: 'head_prelogits', out: int(1, 100) * 8, activation: pick(acts) } : null,
    },
    classes: int(1, 1000),
    dropout: pick([0, 0.2, 0.5]),
  };
  return parseArchSpec(spec, `random spec ${seed}`);
}
