/**
 * Importers for published phone latency tables: Once-for-All (MobileNetV3-like space, Samsung Note10)
 * and ProxylessNAS (MobileNetV2-like space). Their keys become canonical op keys; their means (ms)
 * become entries. Both projects predict a model as the plain sum of its entries, so the overhead
 * is 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../../common/errors.js';
import { writeJsonAtomic } from '../../common/json-io.js';
import type { Activation, SqueezeExcite } from '../../search-space/archspec.js';
import { makeDivisible } from '../../search-space/zoo/index.js';
import { type OpDescriptor, opKey } from './ops.js';
import { type Entry, LATENCY_TABLE_VERSION, type LatencyTable, parseLatencyTable } from './table-schema.js';

/** The YAML parser (ProxylessNAS' tables), loaded when a table is imported rather than with every search. */
const parseYaml = () => (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;

export const IMPORT_FORMATS = ['ofa', 'proxyless'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

interface SourceEntry {
  count: number;
  mean: number;
  std?: number;
  var?: number;
}

const shape = (text: string | undefined, key: string): [number, number, number] => {
  const dims = (text ?? '').split('x').map(Number);
  if (dims.length === 1 && Number.isInteger(dims[0])) return [1, 1, dims[0]!];
  if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0))
    throw new Error(`bad shape "${text}" in key ${key} (is this a Once-for-All or ProxylessNAS table?)`);
  return dims as [number, number, number];
};

/** Splits `name-a:1-b:2` into the name and its fields. */
function fieldsOf(key: string): { name: string; fields: Map<string, string> } {
  const [name, ...rest] = key.split('-');
  return { name: name!, fields: new Map(rest.map((f) => f.split(':') as [string, string])) };
}

const FORMAT_NAMES: Record<ImportFormat, string> = { ofa: 'Once-for-All', proxyless: 'ProxylessNAS' };

/** The search space (experiments/spaces/NAME.json) whose every op a table of each format has a key for. */
export const FORMAT_SPACES: Record<ImportFormat, string> = { ofa: 'ofa-mobilenetv3', proxyless: 'proxylessnas' };

/**
 * The ops of each format and their fields, in order. The two share op names, so a table read as
 * the other format would convert without complaint into wrong keys (an OFA expanded width of 144
 * read as a ProxylessNAS ratio); the fields tell them apart: OFA's expanded_conv has se and hs.
 */
const KEY_FIELDS: Record<ImportFormat, Record<string, string[]>> = {
  ofa: {
    Conv: ['input', 'output'],
    Conv_1: ['input', 'output'],
    Conv_2: ['input', 'output'],
    AvgPool2D: ['input', 'output'],
    Logits: ['input', 'output'],
    expanded_conv: ['input', 'output', 'expand', 'kernel', 'stride', 'idskip', 'se', 'hs'],
  },
  proxyless: {
    Conv: ['input', 'output'],
    Conv_1: ['input', 'output'],
    Logits: ['input', 'output'],
    expanded_conv: ['input', 'output', 'expand', 'kernel', 'stride', 'idskip'],
  },
};

function fitsFormat(key: string, format: ImportFormat): boolean {
  const { name, fields } = fieldsOf(key);
  const expected = KEY_FIELDS[format][name];
  return expected !== undefined && [...fields.keys()].join('-') === expected.join('-');
}

/** Throws when a source key is not one of the format's, naming the format it is one of. */
function checkKey(key: string, format: ImportFormat): void {
  if (fitsFormat(key, format)) return;
  const other = IMPORT_FORMATS.find((f) => f !== format && fitsFormat(key, f));
  if (other) {
    throw new Error(
      `key ${key} is a ${FORMAT_NAMES[other]} key, not a ${FORMAT_NAMES[format]} one: this looks like a ${FORMAT_NAMES[other]} table, import it with --format ${other}`,
    );
  }
  const { name } = fieldsOf(key);
  const expected = KEY_FIELDS[format][name];
  throw new Error(
    expected
      ? `key ${key} does not have the fields of a ${FORMAT_NAMES[format]} ${name} key (${expected.join(', ')}) (is this a ${format} table?)`
      : `unknown op "${name}" in key ${key} (is this a ${format} table?)`,
  );
}

/** Converts one source key; returns the ops it stands for (ProxylessNAS' Logits is pool + dense). */
function convertKey(key: string, format: ImportFormat): OpDescriptor[] {
  checkKey(key, format);
  const { name, fields } = fieldsOf(key);
  const input = shape(fields.get('input'), key);
  const output = shape(fields.get('output'), key);
  const headAct: Activation = format === 'ofa' ? 'hswish' : 'relu6';
  const plain = { se: null, residual: false };
  switch (name) {
    case 'Conv':
      return [{ ...plain, op: 'conv', in: input, out: output[2], kernel: 3, stride: Math.round(input[0] / output[0]), act: headAct }];
    case 'Conv_1':
      return [{ ...plain, op: 'conv', in: input, out: output[2], kernel: 1, stride: 1, act: headAct }];
    case 'AvgPool2D':
      return [{ op: 'pool', in: input }];
    case 'Conv_2':
      return [{ op: 'dense', in: [1, 1, input[2]], out: output[2], act: headAct }];
    case 'Logits': {
      const dense: OpDescriptor = { op: 'dense', in: [1, 1, input[2]], out: output[2], act: null };
      // ProxylessNAS measures pooling and the classifier together from the 7x7 features.
      return input[0] > 1 ? [{ op: 'pool', in: input }, dense] : [dense];
    }
    case 'expanded_conv': {
      const kernel = Number(fields.get('kernel'));
      const stride = Number(fields.get('stride'));
      const expand = Number(fields.get('expand'));
      const residual = fields.get('idskip') === '1';
      // OFA gives the absolute middle width, ProxylessNAS the expansion ratio.
      const mid = format === 'ofa' ? expand : Math.round(expand * input[2]);
      const act: Activation = format === 'ofa' ? (fields.get('hs') === '1' ? 'hswish' : 'relu') : 'relu6';
      const se: SqueezeExcite | null =
        fields.get('se') === '1' ? { squeeze: makeDivisible(mid / 4), gate: 'hsigmoid', activation: 'relu' } : null;
      const common = { in: input, out: output[2], kernel, stride, act, se, residual };
      return [mid === input[2] ? { ...common, op: 'dsconv' } : { ...common, op: 'bneck', exp: mid }];
    }
    default:
      throw new Error(`unknown op "${name}" in key ${key}`);
  }
}

/** What a table was measured with, when the importer is told (`nas table import --device/--runtime/--runtime-version`). */
export interface ImportLabels {
  device?: string | undefined;
  runtime?: string | undefined;
  runtimeVersion?: string | undefined;
}

/**
 * The device of an imported table: the labels given, else what the file says (its name: Once-for-All
 * names its tables after the phone, `ofa-note10-224`); the published tables name no runtime version.
 */
function importedDevice(format: ImportFormat, name: string, labels: ImportLabels) {
  const phone = format === 'ofa' && /note10/i.test(name) ? 'Samsung Galaxy Note10' : null;
  const published = format === 'ofa' ? `Once-for-All table ${name}` : `ProxylessNAS table ${name}`;
  return {
    name: labels.device ?? (phone ? `${phone} (${published})` : `mobile phone (${published})`),
    runtime: labels.runtime ?? 'tflite',
    backend: 'unknown',
    threads: 1,
    cpu: format === 'ofa' ? 'Samsung Galaxy Note10 (as published by Once-for-All)' : 'mobile phone (as published by ProxylessNAS)',
    tfjsVersion: null,
    runtimeVersion: labels.runtimeVersion ?? null,
    date: new Date().toISOString(),
  };
}

export function importTable(file: string, format: ImportFormat, command: string, labels: ImportLabels = {}): LatencyTable {
  let source: Record<string, SourceEntry>;
  try {
    source = parseYaml()(readFileSync(file, 'utf8')) as Record<string, SourceEntry>;
  } catch (err) {
    throw new InputError(`${file}: cannot read as YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (!source || typeof source !== 'object' || Array.isArray(source))
    throw new InputError(`${file}: expected a YAML mapping of op keys to {count, mean, ...}`);
  const entries: Record<string, Entry> = {};
  const resolutions = new Set<number>();
  for (const [key, value] of Object.entries(source)) {
    if (!value || typeof value.mean !== 'number' || typeof value.count !== 'number')
      throw new InputError(`${file}: entry ${key} has no numeric count and mean`);
    let ops: OpDescriptor[];
    try {
      ops = convertKey(key, format);
    } catch (err) {
      throw new InputError(`${file}: ${(err as Error).message}`);
    }
    const std = value.std ?? Math.sqrt(Math.max(value.var ?? 0, 0));
    ops.forEach((op, i) => {
      // A source key that stands for two ops puts its time on the last one.
      const mean = i === ops.length - 1 ? value.mean : 0;
      entries[opKey(op)] = { mean, median: mean, std: i === ops.length - 1 ? std : 0, runs: Math.max(1, Math.round(value.count)) };
    });
    if (key.startsWith('Conv-')) resolutions.add(shape(fieldsOf(key).fields.get('input'), key)[0]);
  }
  const name = path.basename(file).replace(/\.ya?ml$/i, '');
  const table = {
    schemaVersion: LATENCY_TABLE_VERSION,
    kind: 'latency-table',
    name,
    device: importedDevice(format, name, labels),
    profiler: { warmupRuns: 0, minRuns: 1, maxRuns: 1, minMillis: 0, batch: 1, statistic: 'mean' },
    source: { command, importedFrom: file, format },
    resolutions: [...resolutions].sort((a, b) => a - b),
    scale: 1,
    overheadMs: 0,
    overheadFit: null,
    entries,
  };
  return parseLatencyTable(table, file);
}

export interface ImportRequest {
  /** The published table (YAML). */
  file: string;
  format: ImportFormat;
  /** The command line, recorded in the table's source. */
  command: string;
  /** Where to write the table; default `<file name>.json` in the current directory. */
  out?: string | undefined;
  /** The device, runtime and version it was measured with, when the file does not say. */
  labels?: ImportLabels;
  /** Replace a file already at `out` (refused without it). */
  force?: boolean | undefined;
}

/**
 * Imports a published table and writes it atomically; returns where it wrote (an absolute path) and
 * the table. A file already there is refused unless `force`: it may hold what `nas table fit` stored.
 */
export async function importTableToFile(request: ImportRequest): Promise<{ out: string; table: LatencyTable }> {
  const table = importTable(request.file, request.format, request.command, request.labels);
  const out = path.resolve(request.out ?? `${table.name}.json`);
  if (!request.force && existsSync(out))
    throw new InputError(
      `${out} already exists: give --force to replace it (with any estimator nas table fit stored in it), or --out another file`,
    );
  await writeJsonAtomic(out, table);
  return { out, table };
}
