/**
 * NetAdapt proposals: from the current spec, every single simplification that cuts the predicted
 * latency by at least delta:
 *  - `expansion`: the expansion width of one bottleneck;
 *  - `bottleneck`: the output width shared by a block and the residual blocks that add into it
 *    (or the stem and the residual blocks after it), all together so additions stay valid;
 *  - `remove-layer`: a whole block whose input and output widths match at stride 1.
 * Each width proposal takes the largest multiple of 8 below the current width whose latency is at
 * least delta under the current latency (none if even 8 channels are not enough).
 */
import { type ArchSpec, type Block, parseArchSpec } from '../search-space/archspec.js';
import { makeDivisible } from '../search-space/zoo/index.js';

export type ProposalKind = 'expansion' | 'bottleneck' | 'remove-layer';

export interface Proposal {
  kind: ProposalKind;
  /** Ids of the layers changed. */
  target: string[];
  description: string;
  spec: ArchSpec;
  latencyMs: number;
}

const MIN_WIDTH = 8;

/** A group of layers sharing an output width through residual additions: producer first. */
export interface WidthGroup {
  /** 'stem' or a block index. */
  producer: 'stem' | number;
  members: number[];
  width: number;
}

export function widthGroups(spec: ArchSpec): WidthGroup[] {
  const groups: WidthGroup[] = [{ producer: 'stem', members: [], width: spec.stem.out }];
  spec.blocks.forEach((block, i) => {
    if (block.residual) groups[groups.length - 1]!.members.push(i);
    else groups.push({ producer: i, members: [], width: block.out });
  });
  return groups;
}

function withWidth(spec: ArchSpec, group: WidthGroup, width: number): ArchSpec {
  const blocks = spec.blocks.map((b, i) => (i === group.producer || group.members.includes(i) ? { ...b, out: width } : b)) as Block[];
  const stem = group.producer === 'stem' ? { ...spec.stem, out: width } : spec.stem;
  // A depthwise-separable member works at the group width: its SE squeeze cannot exceed it.
  const fitted = blocks.map((b) =>
    b.type !== 'bneck' && b.se && b.se.squeeze > width ? { ...b, se: { ...b.se, squeeze: width } } : b,
  ) as Block[];
  return { ...spec, stem, blocks: fitted };
}

function withExpansion(spec: ArchSpec, index: number, exp: number): ArchSpec {
  const blocks = spec.blocks.map((b, i) => {
    if (i !== index || b.type !== 'bneck') return b;
    // The SE squeeze keeps its ratio to the expansion (a multiple of 8, at most the expansion).
    const se = b.se && { ...b.se, squeeze: Math.min(exp, Math.max(1, makeDivisible((b.se.squeeze * exp) / b.exp))) };
    return { ...b, exp, se };
  }) as Block[];
  return { ...spec, blocks };
}

/** Largest multiple of 8 below `current` for which `latencyOf(make(w)) <= limit`, with its spec. */
function largestWidthUnder(
  current: number,
  limit: number,
  make: (w: number) => ArchSpec,
  latencyOf: (s: ArchSpec) => number,
): { width: number; spec: ArchSpec; latencyMs: number } | null {
  for (let w = Math.floor((current - 1) / 8) * 8; w >= MIN_WIDTH; w -= 8) {
    const spec = make(w);
    const latencyMs = latencyOf(spec);
    if (latencyMs <= limit) return { width: w, spec, latencyMs };
  }
  return null;
}

export function generateProposals(
  spec: ArchSpec,
  currentMs: number,
  deltaMs: number,
  latencyOf: (s: ArchSpec) => number,
  name: (kind: ProposalKind, target: string[]) => string,
): Proposal[] {
  const limit = currentMs - deltaMs;
  const proposals: Proposal[] = [];
  const finish = (kind: ProposalKind, target: string[], description: string, draft: ArchSpec, latencyMs: number) =>
    proposals.push({
      kind,
      target,
      description,
      latencyMs,
      spec: parseArchSpec({ ...draft, name: name(kind, target) }, `NetAdapt proposal ${description}`),
    });

  spec.blocks.forEach((block, i) => {
    if (block.type !== 'bneck') return;
    const found = largestWidthUnder(block.exp, limit, (w) => withExpansion(spec, i, w), latencyOf);
    if (found) finish('expansion', [block.id], `${block.id} expansion ${block.exp} -> ${found.width}`, found.spec, found.latencyMs);
  });

  for (const group of widthGroups(spec)) {
    const ids = [
      group.producer === 'stem' ? spec.stem.id : spec.blocks[group.producer]!.id,
      ...group.members.map((m) => spec.blocks[m]!.id),
    ];
    const found = largestWidthUnder(group.width, limit, (w) => withWidth(spec, group, w), latencyOf);
    if (found) finish('bottleneck', ids, `${ids.join('+')} width ${group.width} -> ${found.width}`, found.spec, found.latencyMs);
  }

  let channels = spec.stem.out;
  spec.blocks.forEach((block, i) => {
    if (block.stride === 1 && block.out === channels) {
      const draft = { ...spec, blocks: spec.blocks.filter((_, j) => j !== i) };
      const latencyMs = latencyOf(draft);
      if (latencyMs <= limit) finish('remove-layer', [block.id], `remove ${block.id}`, draft, latencyMs);
    }
    channels = block.out;
  });
  return proposals;
}
