/**
 * `nas profile --serve`: an HTTP server that hands a phone's browser the profiler page (the same
 * timing code as the Node profiler, bundled with esbuild, on tfjs-wasm) and the list of ops to
 * measure, and receives the measurements back. The server, not the page, assembles the table:
 * it checks the posted body against a size limit and the schema, fits the overhead, and writes
 * the file atomically, so a bad or hostile post writes nothing.
 *
 * The page uploads what it has measured every few seconds (POST /partial), kept in the session
 * file of ./phone-session.ts, so a closed tab, a reload or a restarted server loses nothing: the
 * reopened page asks for the session (POST /session) and skips the ops already measured. Every
 * upload carries the link's one-time token and the page's session id (headers x-profile-token,
 * x-profile-session); one without the right pair is answered 403 with what to do.
 */

import { createReadStream, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { z } from 'zod';
import { NasError } from '../../common/errors.js';
import { countOf } from '../../common/format.js';
import { writeJsonAtomic } from '../../common/json-io.js';
import type { Logger } from '../../common/log.js';
import { parseWith } from '../../common/validate.js';
import { PROJECT_ROOT } from '../../common/version.js';
import { opKey } from '../predict/ops.js';
import { EntrySchema, LATENCY_TABLE_VERSION, type LatencyTable, MAX_TABLE_ENTRIES, parseLatencyTable } from '../predict/table-schema.js';
import type { ProfileJob } from './browser.js';
import type { ProfileJobSpec } from './job.js';
import { type PhoneDevice, PhoneDeviceSchema, PhoneSession, sessionFileOf } from './phone-session.js';
import { DEFAULT_PROFILER, PROBE_KEY } from './profile.js';
import { fitOverhead } from './profile-run.js';

/** A posted table larger than this is refused before parsing. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** What the page posts: its device readings (as a session keeps them), the entries and the calibration. */
const MeasurementsSchema = PhoneDeviceSchema.extend({
  name: z.string().regex(/^[\w.-]{1,80}$/, 'a name of letters, digits, ".", "_" or "-"'),
  deviceName: z.string().max(500),
  entries: z.record(z.string(), EntrySchema),
  calibration: z.array(z.strictObject({ name: z.string().max(200), measuredMs: z.number().min(0) })).max(1000),
});

export interface ServeOptions {
  host: string;
  port: number;
  job: ProfileJobSpec;
  /** Table file to write; default phone-<date>.json in the current directory. */
  out?: string;
  log: Logger;
}

export interface ProfilerServer {
  url: string;
  /**
   * Addresses a phone can open: with a wildcard host (0.0.0.0, ::), one per LAN address of this
   * machine (a phone cannot open 0.0.0.0); otherwise `url` alone.
   */
  reachableUrls: string[];
  /** `reachableUrls` with the one-time token: what the phone opens (print these, and the QR code of the first). */
  phoneUrls: string[];
  /** The server listens on a loopback address: only this machine's browsers can open it, not a phone's. */
  loopbackOnly: boolean;
  /** Where a posted table is written (an absolute path). */
  out: string;
  /** The session file (partial uploads, the token and its claim). */
  sessionFile: string;
  /** Ops already uploaded to the session by an earlier server (resumed from its session file), else 0. */
  resumedOps: number;
  /** Ops of the job. */
  totalOps: number;
  /** Resolves with each table the server writes. */
  onTable(listener: (file: string, table: LatencyTable) => void): void;
  /** Called at every partial upload the server keeps. */
  onProgress(listener: (progress: PhoneProgress) => void): void;
  close(): Promise<void>;
  closed: Promise<void>;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nas latency profiler</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}button{font-size:1.2em;padding:.5em 1em}</style></head>
<body data-state="idle"><h1>Latency profiler</h1>
<p>Measures the ops of the job with TensorFlow.js (wasm) in this browser and sends the table back to the computer that serves this page, a part every few seconds: if the tab closes, open the same link again to continue. Keep the tab in front.</p>
<p><label>Device name <input id="device" placeholder="e.g. Pixel 6"></label></p>
<p><button id="start">Start</button></p><p id="status">ready</p><p id="wake"></p>
<script type="module" src="/profiler.js"></script></body></html>`;

let bundled: Promise<string> | null = null;

/** The bundle takes trainer/tf-browser in place of trainer/tf, which loads tfjs through Node's require. */
const browserTf: Plugin = {
  name: 'browser-tf',
  setup(bundler) {
    bundler.onResolve({ filter: /(^|\/)tf\.js$/ }, ({ path: specifier, resolveDir, importer }) => {
      const target = path.resolve(resolveDir, specifier);
      if (path.basename(path.dirname(target)) !== 'trainer') return undefined;
      return { path: target.replace(/tf\.js$/, importer.endsWith('.ts') ? 'tf-browser.ts' : 'tf-browser.js') };
    });
  },
};

/** The browser script: src/latency-model/measure/browser.ts and what it imports, as one ES module. */
function profilerBundle(): Promise<string> {
  bundled ??= (async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    // Run from dist/: bundle the TypeScript source when it is there, else the compiled module.
    const source = path.join(PROJECT_ROOT, 'src', 'latency-model', 'measure', 'browser.ts');
    const entry = existsSync(source) ? source : path.join(here, 'browser.js');
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      minify: true,
      logLevel: 'silent',
      plugins: [browserTf],
    });
    return result.outputFiles[0]!.text;
  })();
  return bundled;
}

function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}

function send(res: ServerResponse, status: number, type: string, body: string) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json', JSON.stringify(value));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(new BodyTooLarge());
    let size = 0;
    let tooLarge = false;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (!tooLarge) {
        tooLarge = true;
        // Over the limit without a declared length (chunked): answer 413 at once and read the
        // rest into nothing, so the client gets the answer instead of a reset connection.
        chunks.length = 0;
        reject(new BodyTooLarge());
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

class BodyTooLarge extends Error {}

/** What the server's steps share: the table being served for, the job, where the table goes. */
interface ServeContext {
  name: string;
  out: string;
  job: ProfileJobSpec;
  /** The job as the page gets it. */
  jobBody: ProfileJob;
  expectedKeys: Set<string>;
  wasm: string;
  log: Logger;
  session: PhoneSession;
  /** When this page load's uploads began, and the ops done then (for the ETA). */
  rate: { since: number; doneBefore: number } | null;
  listeners: ((file: string, table: LatencyTable) => void)[];
  progressListeners: ((progress: PhoneProgress) => void)[];
}

type Measurements = z.infer<typeof MeasurementsSchema>;

/** An upload of the entries measured since the last one. */
const PartialUploadSchema = z.strictObject({
  device: PhoneDeviceSchema,
  entries: z.record(z.string(), EntrySchema),
});

/** The phone's progress, reported at every partial upload. */
export interface PhoneProgress {
  /** Ops of the job in the session (all uploads, earlier page loads included). */
  done: number;
  total: number;
  /** From the rate of this page load's uploads; NaN until there are two. */
  etaSeconds: number;
}

export async function serveProfiler(options: ServeOptions): Promise<ProfilerServer> {
  const context = await serveContext(options);
  const server = createServer((req, res) => {
    const url = URL.canParse(req.url ?? '/', 'http://localhost') ? new URL(req.url ?? '/', 'http://localhost') : null;
    if (!url) return send(res, 400, 'text/plain', 'malformed request target');
    void handleRequest(req, res, url, context);
  });
  await listen(server, options.host, options.port);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const urls = reachableUrls(options.host, port, networkInterfaces());
  return {
    url: pageUrl(options.host, port),
    reachableUrls: urls,
    phoneUrls: urls.map((url) => `${url}?token=${context.session.token}`),
    loopbackOnly: isLoopback(options.host),
    out: context.out,
    sessionFile: context.session.file,
    resumedOps: context.session.resumed ? Object.keys(context.session.entries).length : 0,
    totalOps: context.expectedKeys.size,
    onTable: (listener) => context.listeners.push(listener),
    onProgress: (listener) => context.progressListeners.push(listener),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    closed,
  };
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

const pageUrl = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;

/**
 * The page's addresses a device on the LAN can open. A wildcard host listens on every interface:
 * list this machine's external addresses (IPv4 first; IPv6 too when bound to ::), falling back to
 * the wildcard URL when there is none. Any other host is the one address.
 */
export function reachableUrls(host: string, port: number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const wildcard = host === '0.0.0.0' || host === '::';
  if (!wildcard) return [pageUrl(host, port)];
  const external = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((info) => !info.internal && (info.family === 'IPv4' || (host === '::' && !info.address.startsWith('fe80:'))));
  const ordered = [...external.filter((i) => i.family === 'IPv4'), ...external.filter((i) => i.family === 'IPv6')];
  const urls = ordered.map((info) => pageUrl(info.address, port));
  return urls.length ? urls : [pageUrl(host, port)];
}

async function serveContext(options: ServeOptions): Promise<ServeContext> {
  const { job, log } = options;
  const name = options.out ? path.basename(options.out).replace(/\.json$/, '') : `phone-${new Date().toISOString().slice(0, 10)}`;
  const out = path.resolve(options.out ?? `${name}.json`);
  const jobBody: ProfileJob = { name, ops: job.ops, calibration: job.calibration, settings: DEFAULT_PROFILER };
  const expectedKeys = new Set(job.ops.map(opKey));
  const session = await PhoneSession.open(sessionFileOf(out), expectedKeys);
  return { name, out, job, jobBody, expectedKeys, wasm: wasmDir(), log, session, rate: null, listeners: [], progressListeners: [] };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new NasError(
          `cannot listen on ${host}:${port} (${err.code === 'EADDRINUSE' ? 'the port is in use: pick another with --port' : err.message})`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
}

/** Answers one request; a failure is logged and answered 500. */
async function handleRequest(req: IncomingMessage, res: ServerResponse, url: URL, context: ServeContext): Promise<void> {
  try {
    if (req.method === 'GET' && url.pathname === '/') return send(res, 200, 'text/html; charset=utf-8', PAGE);
    if (req.method === 'GET' && url.pathname === '/profiler.js') return send(res, 200, 'text/javascript', await profilerBundle());
    if (req.method === 'GET' && url.pathname === '/job') return json(res, 200, context.jobBody);
    if (req.method === 'GET' && /^\/wasm\/[\w-]+\.wasm$/.test(url.pathname))
      return sendWasm(res, path.join(context.wasm, path.basename(url.pathname)));
    if (req.method === 'POST' && UPLOADS.has(url.pathname)) return await upload(req, res, url.pathname, context);
    send(res, 404, 'text/plain', 'not found');
  } catch (err) {
    context.log.error({ err }, 'request failed');
    if (!res.headersSent) json(res, 500, { error: (err as Error).message });
  }
}

function sendWasm(res: ServerResponse, file: string): void {
  if (!existsSync(file)) {
    send(res, 404, 'text/plain', 'not found');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/wasm' });
  createReadStream(file).pipe(res);
}

const UPLOADS = new Set(['/session', '/partial', '/table']);

const header = (req: IncomingMessage, name: string) => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** An upload: the token and session are checked before the body is read; 403 without them. */
async function upload(req: IncomingMessage, res: ServerResponse, pathname: string, context: ServeContext): Promise<void> {
  const refusal = await context.session.authorize(header(req, 'x-profile-token'), header(req, 'x-profile-session'));
  if (refusal) {
    context.log.warn({ path: pathname, error: refusal }, 'refused an upload');
    res.setHeader('connection', 'close');
    return json(res, 403, { error: refusal });
  }
  if (pathname === '/session') return json(res, 200, sessionAnswer(context));
  let body: string;
  try {
    body = await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      res.setHeader('connection', 'close');
      return json(res, 413, { error: `the table is larger than ${MAX_BODY_BYTES} bytes` });
    }
    throw err;
  }
  const { status, value } = pathname === '/partial' ? await receivePartial(body, context) : await receiveTable(body, context);
  if (status !== 200) context.log.warn({ path: pathname, error: (value as { error: string }).error }, 'refused an upload');
  return json(res, status, value);
}

/** What a (re)opened page needs to resume: the ops already measured and the device's reference readings. */
function sessionAnswer(context: ServeContext): { measured: string[]; device: PhoneDevice | null } {
  const measured = Object.keys(context.session.entries);
  context.rate = null;
  if (measured.length) context.log.info({ measured: measured.length, total: context.expectedKeys.size }, 'the phone resumes');
  return { measured, device: context.session.device };
}

const parseJson = (body: string): { data: unknown } | null => {
  try {
    return { data: JSON.parse(body) };
  } catch {
    return null;
  }
};

/** Keeps a partial upload's entries in the session file and reports the progress. */
async function receivePartial(body: string, context: ServeContext): Promise<{ status: number; value: unknown }> {
  const parsed = parseJson(body);
  if (!parsed) return { status: 400, value: { error: 'the body is not JSON' } };
  let upload: z.infer<typeof PartialUploadSchema>;
  try {
    upload = parseWith(PartialUploadSchema, parsed.data, 'partial upload');
  } catch (err) {
    return { status: 400, value: { error: (err as Error).message } };
  }
  const extra = Object.keys(upload.entries).filter((k) => !context.expectedKeys.has(k));
  if (extra.length)
    return { status: 400, value: { error: `not ops of the job: ${countOf(extra.length, 'entry', 'entries')}, e.g. ${extra[0]}` } };
  const { session, expectedKeys } = context;
  await session.addEntries(upload.device, upload.entries);
  const done = Object.keys(session.entries).length;
  const now = performance.now();
  // The rate of this page load: from its first upload to the latest.
  context.rate ??= { since: now, doneBefore: done };
  const perOpMs = done > context.rate.doneBefore ? (now - context.rate.since) / (done - context.rate.doneBefore) : NaN;
  const progress = { done, total: expectedKeys.size, etaSeconds: (perOpMs * (expectedKeys.size - done)) / 1000 };
  for (const listener of context.progressListeners) listener(progress);
  return { status: 200, value: { measured: done, total: expectedKeys.size } };
}

/** Checks a posted body and writes its table; the status and body of the answer. */
async function receiveTable(body: string, context: ServeContext): Promise<{ status: number; value: unknown }> {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return { status: 400, value: { error: 'the body is not JSON' } };
  }
  let table: LatencyTable;
  try {
    table = tableFromMeasurements(parseWith(MeasurementsSchema, data, 'posted measurements'), context);
  } catch (err) {
    return { status: 400, value: { error: (err as Error).message } };
  }
  const { out, log } = context;
  await writeJsonAtomic(out, table);
  await context.session.finish();
  log.info(
    { file: out, entries: Object.keys(table.entries).length, device: table.device.name, overheadMs: table.overheadMs },
    'wrote the posted table',
  );
  for (const listener of context.listeners) listener(out, table);
  return { status: 200, value: { file: out, entries: Object.keys(table.entries).length } };
}

/** The table of posted measurements: exactly the job's ops, the schema, the overhead fitted on the posted whole models. */
function tableFromMeasurements(m: Measurements, context: ServeContext): LatencyTable {
  const { expectedKeys, job } = context;
  if (Object.keys(m.entries).length > MAX_TABLE_ENTRIES) throw new NasError(`more than ${MAX_TABLE_ENTRIES} entries`);
  // The entries of earlier uploads (and earlier page loads) count: the page posts only its own.
  m = { ...m, entries: { ...context.session.entries, ...m.entries } };
  const missing = [...expectedKeys].filter((k) => !m.entries[k]);
  if (missing.length) throw new NasError(`${missing.length} of the job's ops are missing, e.g. ${missing[0]}`);
  const extra = Object.keys(m.entries).filter((k) => !expectedKeys.has(k));
  if (extra.length) throw new NasError(`not ops of the job: ${countOf(extra.length, 'entry', 'entries')}, e.g. ${extra[0]}`);
  const measured = new Map(m.calibration.map((c) => [c.name, c.measuredMs]));
  return fitOverhead(
    draftTable(m, context),
    job.calibration.filter((s) => measured.has(s.name)).map((s) => ({ spec: s, measuredMs: measured.get(s.name)! })),
  );
}

function draftTable(m: Measurements, { name, job, jobBody }: ServeContext): LatencyTable {
  return parseLatencyTable(
    {
      schemaVersion: LATENCY_TABLE_VERSION,
      kind: 'latency-table',
      name,
      device: {
        name: m.deviceName,
        runtime: 'tfjs-layers (browser)',
        backend: m.backend,
        threads: 1,
        cpu: `${m.cores} cores`,
        tfjsVersion: m.tfjsVersion,
        runtimeVersion: `tfjs ${m.tfjsVersion} (${m.backend})`,
        userAgent: m.userAgent,
        date: new Date().toISOString(),
        dispatchMs: m.dispatchMs,
      },
      profiler: jobBody.settings,
      source: { command: `nas profile --serve (${job.ops.length} ops)` },
      resolutions: [job.resolution],
      scale: 1,
      probe: { key: PROBE_KEY, ms: m.probeMs },
      overheadMs: 0,
      overheadFit: null,
      entries: m.entries,
    },
    'posted table',
  );
}
