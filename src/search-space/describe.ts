/** The per-layer table of a spec, in the shape of the paper's Tables 1 and 2. */
import { formatCount, formatMillions, textTable } from '../common/format.js';
import type { ArchSpec } from './archspec.js';
import { specCost } from './cost.js';
import type { Layer, LayerActivation, Shape, Unit } from './resolve.js';

const NL_CODES: Record<LayerActivation, string> = { relu: 'RE', relu6: 'R6', hswish: 'HS', swish: 'SW', sigmoid: 'SG' };

export interface DescribedLayer {
  name: string;
  op: Layer['op'];
  detail: string;
  madds: number;
  params: number;
}

export interface DescribedUnit {
  id: string;
  input: string;
  operator: string;
  exp: number | null;
  out: number;
  se: boolean;
  nl: string | null;
  stride: number;
  residual: boolean;
  madds: number;
  params: number;
  layers: DescribedLayer[];
}

export interface Description {
  name: string;
  input: string;
  classes: number;
  madds: number;
  params: number;
  units: DescribedUnit[];
}

const shapeText = (s: Shape) => `${s[0]}x${s[1]}x${s[2]}`;

function operatorText(unit: Unit): string {
  const k = `${unit.kernel}x${unit.kernel}`;
  switch (unit.kind) {
    case 'stem':
    case 'conv':
      return `conv2d ${k}`;
    case 'dsconv':
      return `dsconv ${k}`;
    case 'bneck':
      return `bneck ${k}`;
    case 'head-conv':
      return 'conv2d 1x1';
    case 'pool':
      return `avg pool ${k}`;
    case 'pre-logits':
    case 'classifier':
      return 'conv2d 1x1, no BN';
    case 'lraspp':
      return 'LR-ASPP decoder';
    case 'ssd-extra':
      return 'SSDLite extra layer';
    case 'ssd-head':
      return 'SSDLite predictors';
  }
}

function layerDetail(layer: Layer): string {
  switch (layer.op) {
    case 'conv': {
      const kind = layer.groups === 1 ? 'conv' : 'depthwise';
      const extras = [
        layer.batchNorm ? 'BN' : null,
        layer.bias ? 'bias' : null,
        layer.activation ? NL_CODES[layer.activation] : null,
      ].filter(Boolean);
      const dilation = layer.dilation > 1 ? ` dilation ${layer.dilation}` : '';
      return `${kind} ${layer.kernel}x${layer.kernel}/${layer.stride}${dilation} ${layer.inChannels}->${layer.outChannels}${extras.length ? ` (${extras.join(', ')})` : ''}`;
    }
    case 'se':
      return `squeeze-excite ${layer.channels}->${layer.squeeze}->${layer.channels} (${NL_CODES[layer.activation]}, ${layer.gate})`;
    case 'global-avg-pool':
      return `global average pool ${shapeText(layer.inShape)}`;
    case 'dense':
      return `dense ${layer.inFeatures}->${layer.outFeatures}${layer.activation ? ` (${NL_CODES[layer.activation]})` : ''}`;
    case 'dropout':
      return `dropout ${layer.rate}`;
    case 'avg-pool':
      return `average pool ${layer.kernel.join('x')}/${layer.stride.join('x')} ${shapeText(layer.inShape)} -> ${shapeText(layer.outShape)}`;
    case 'resize':
      return `bilinear resize ${shapeText(layer.inShape)} -> ${shapeText(layer.outShape)}`;
  }
}

export function describeSpec(spec: ArchSpec): Description {
  const cost = specCost(spec);
  const units = cost.units.map(
    ({ unit, layers, madds, params }): DescribedUnit => ({
      id: unit.id,
      input: shapeText(unit.inShape),
      operator: operatorText(unit),
      exp: unit.exp,
      out: unit.outShape[2],
      se: unit.se,
      nl: unit.activation ? NL_CODES[unit.activation] : null,
      stride: unit.stride,
      residual: unit.residual,
      madds,
      params,
      layers: layers.map(({ layer, cost: c }) => ({
        name: layer.name,
        op: layer.op,
        detail: layerDetail(layer),
        madds: c.madds,
        params: c.params,
      })),
    }),
  );
  const { resolution, channels } = spec.input;
  return {
    name: spec.name,
    input: `${resolution}x${resolution}x${channels}`,
    classes: spec.classes,
    madds: cost.madds,
    params: cost.params,
    units,
  };
}

export function renderDescription(d: Description, options: { layers?: boolean } = {}): string {
  const header = ['id', 'input', 'operator', 'exp', 'out', 'SE', 'NL', 's', 'skip', 'MAdds', 'params'];
  const rows: string[][] = [];
  for (const u of d.units) {
    rows.push([
      u.id,
      u.input,
      u.operator,
      u.exp === null ? '-' : String(u.exp),
      String(u.out),
      u.se ? 'yes' : '-',
      u.nl ?? '-',
      String(u.stride),
      u.residual ? 'yes' : '-',
      formatMillions(u.madds, 2),
      formatCount(u.params),
    ]);
    if (options.layers) {
      for (const l of u.layers)
        rows.push([`  ${l.name}`, '', l.detail, '', '', '', '', '', '', formatMillions(l.madds, 2), formatCount(l.params)]);
    }
  }
  rows.push(['total', '', '', '', '', '', '', '', '', formatMillions(d.madds, 1), formatCount(d.params)]);
  return `${d.name}: input ${d.input}, ${d.classes} classes\n${textTable(header, rows)}\n`;
}
