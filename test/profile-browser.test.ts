import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { type NetworkInterfaceInfo, tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { chromium, type Route } from 'playwright-core';
import { silentLogger } from '../src/common/log.js';
import { jobForSpecs } from '../src/latency-model/measure/job.js';
import { sessionFileOf } from '../src/latency-model/measure/phone-session.js';
import { MAX_BODY_BYTES, type PhoneProgress, reachableUrls, serveProfiler } from '../src/latency-model/measure/serve.js';
import { opKey } from '../src/latency-model/predict/ops.js';
import { readLatencyTable } from '../src/latency-model/predict/table-schema.js';
import { tinySpec } from './helpers/tiny.js';

const CHROMIUM = '/usr/bin/chromium';
/** The page's end states. */
const FINISHED = 'body[data-state="done"], body[data-state="error"], body[data-state="refused"]';
const tmp = () => mkdtempSync(path.join(tmpdir(), 'nas-serve-'));

/** Sends raw bytes to the server and returns its whole answer. */
function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

async function startServer(out = path.join(tmp(), 'phone.json')) {
  const job = jobForSpecs([tinySpec({ resolution: 16, channels: 3 })]);
  const server = await serveProfiler({ host: '127.0.0.1', port: 0, job, out, log: silentLogger });
  const token = new URL(server.phoneUrls[0]!).searchParams.get('token')!;
  return { server, out, job, token };
}

const SESSION_A = 'a'.repeat(32);
const SESSION_B = 'b'.repeat(32);
const ENTRY = { mean: 1, median: 1, std: 0, runs: 5 };
const DEVICE = { userAgent: 'test', cores: 4, tfjsVersion: '4.22.0', backend: 'wasm', dispatchMs: 0.01, probeMs: 2 };

/** Posts to the server as a page does: the link's token and a session id in headers (each left out when undefined). */
function upload(baseUrl: string, route: string, body: string, credentials: { token?: string; session?: string }) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (credentials.token !== undefined) headers['x-profile-token'] = credentials.token;
  if (credentials.session !== undefined) headers['x-profile-session'] = credentials.session;
  return fetch(`${baseUrl}${route.slice(1)}`, { method: 'POST', headers, body });
}

const launchChromium = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

test.serial('the phone profiler page measures every op in headless Chromium and the server writes the table', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.log(`${CHROMIUM} is not installed (apt-get install chromium; .ci/run does): skipped`);
    t.pass();
    return;
  }
  const { server, out, job } = await startServer();
  const received = new Promise<string>((resolve) => server.onTable((file) => resolve(file)));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.phoneUrls[0]}&autostart`);
    await page.waitForSelector(FINISHED, { timeout: 180_000 });
    const status = await page.textContent('#status');
    t.regex(status ?? '', /done: the server wrote/, status ?? '');
    t.is(await received, out);
    const table = readLatencyTable(out);
    t.is(Object.keys(table.entries).length, job.ops.length);
    t.is(table.device.backend, 'wasm');
    t.regex(table.device.userAgent ?? '', /Chrome/);
    t.regex(table.device.runtimeVersion ?? '', /^tfjs \d+\.\d+\.\d+ \(wasm\)$/);
    t.deepEqual(table.resolutions, [16]);
    t.is(table.overheadFit?.models.length, 1);
  } finally {
    await browser.close();
    await server.close();
  }
});

test.serial(
  'the phone page uploads partial tables as it goes, a reloaded page resumes, a page without the token or in another browser is refused, and the page says what to do without a wake lock',
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.log(`${CHROMIUM} is not installed (apt-get install chromium; .ci/run does): skipped`);
      t.pass();
      return;
    }
    const { server, out, job } = await startServer();
    const sessionFile = sessionFileOf(out);
    const progress: PhoneProgress[] = [];
    server.onProgress((p) => progress.push(p));
    const received = new Promise<string>((resolve) => server.onTable((file) => resolve(file)));
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext()).newPage();
      // The first partial upload goes through; the second is held and the tab reloaded under it,
      // as when a phone's tab is closed mid-run.
      let partials = 0;
      let holding = true;
      let hold!: (route: Route) => void;
      const held = new Promise<Route>((resolve) => (hold = resolve));
      await page.route('**/partial', async (route) => {
        partials++;
        if (partials === 2 && holding) hold(route);
        else await route.continue();
      });
      await page.goto(`${server.phoneUrls[0]}&autostart`);
      const heldUpload = await held;
      const firstUpload = JSON.parse(readFileSync(sessionFile, 'utf8')) as { entries: Record<string, unknown> };
      const kept = Object.keys(firstUpload.entries);
      t.true(kept.length >= 1 && kept.length < job.ops.length, `${kept.length} of ${job.ops.length} ops in the first partial upload`);
      t.deepEqual(
        progress.map((p) => [p.done, p.total]),
        [[kept.length, job.ops.length]],
        'the server reports the partial upload',
      );
      holding = false;
      const uploadedAfterReload: string[] = [];
      page.on('request', (request) => {
        if (/\/(partial|table)$/.test(request.url())) uploadedAfterReload.push(...Object.keys(request.postDataJSON().entries));
      });
      await page.reload();
      await heldUpload.abort().catch(() => undefined);
      await page.waitForSelector(FINISHED, { timeout: 180_000 });
      const status = await page.textContent('#status');
      t.regex(status ?? '', /done: the server wrote/, status ?? '');
      t.is(await page.getAttribute('body', 'data-resumed'), String(kept.length));
      t.log(
        `first partial upload: ${kept.length} of ${job.ops.length} ops; wake lock: ${await page.getAttribute('body', 'data-wake-lock')}`,
      );
      t.regex(
        (await page.getAttribute('body', 'data-wake-lock')) ?? '',
        /^(held|refused|unavailable)$/,
        'the wake lock is taken or its absence said',
      );
      t.deepEqual(
        uploadedAfterReload.filter((key) => kept.includes(key)),
        [],
        'the reloaded page does not measure again what the server has',
      );
      t.is(new Set(uploadedAfterReload).size, job.ops.length - kept.length);
      t.is(await received, out);
      const table = readLatencyTable(out);
      t.deepEqual(Object.keys(table.entries).sort(), job.ops.map(opKey).sort());
      for (const key of kept) t.deepEqual(table.entries[key], firstUpload.entries[key], 'the first upload is in the table as it was');
      t.is(progress.at(-1)?.done, job.ops.length);
      t.false(existsSync(sessionFile), 'the session file is removed once the table is written');
      // A second phone with the same link (a fresh browser context: its own storage), and the page without the token.
      const refusals: [string, RegExp][] = [
        [`${server.phoneUrls[0]}&autostart`, /already claimed by another device or browser/],
        [`${server.url}?autostart`, /no profiling token or a wrong one: open the exact link/],
      ];
      for (const [url, reason] of refusals) {
        const other = await browser.newPage();
        await other.goto(url);
        await other.waitForSelector(FINISHED, { timeout: 60_000 });
        t.is(await other.getAttribute('body', 'data-state'), 'refused', url);
        t.regex((await other.textContent('#status')) ?? '', reason);
      }
      // A browser without the Wake Lock API (as on an http LAN address): the page says what to do instead.
      const noWakeLock = await browser.newPage();
      await noWakeLock.addInitScript(() => Object.defineProperty(Navigator.prototype, 'wakeLock', { get: () => undefined }));
      await noWakeLock.goto(`${server.url}?autostart`);
      await noWakeLock.waitForSelector(FINISHED, { timeout: 60_000 });
      t.is(await noWakeLock.getAttribute('body', 'data-wake-lock'), 'unavailable');
      t.regex((await noWakeLock.textContent('#wake')) ?? '', /cannot keep the screen on here .*set the screen timeout to its longest/);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

test.serial(
  'an upload without the token, or from a second browser after the first claimed the link, is refused with 403; a restarted server keeps the link and what was uploaded',
  async (t) => {
    const { server, out, job, token } = await startServer();
    const key = opKey(job.ops[0]!);
    const partial = JSON.stringify({ device: DEVICE, entries: { [key]: ENTRY } });
    try {
      t.regex(server.phoneUrls[0]!, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{24}$/);
      t.is(server.resumedOps, 0);
      const noToken = await upload(server.url, '/partial', partial, { session: SESSION_A });
      t.is(noToken.status, 403);
      t.regex(
        (await noToken.json()).error,
        /no profiling token or a wrong one: open the exact link \(with \?token=\.\.\.\) that nas profile --serve printed/,
      );
      // The last character changed (to one it is not: a random token ends in 'x' one time in 64).
      const wrong = `${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`;
      const wrongToken = await upload(server.url, '/partial', partial, { token: wrong, session: SESSION_A });
      t.is(wrongToken.status, 403);
      const noSession = await upload(server.url, '/partial', partial, { token });
      t.is(noSession.status, 403);
      t.regex((await noSession.json()).error, /no session id/);
      t.deepEqual(JSON.parse(readFileSync(sessionFileOf(out), 'utf8')).claimedBy, null, 'refused uploads claim nothing');
      const first = await upload(server.url, '/partial', partial, { token, session: SESSION_A });
      t.is(first.status, 200);
      t.deepEqual(await first.json(), { measured: 1, total: job.ops.length });
      const second = await upload(server.url, '/partial', partial, { token, session: SESSION_B });
      t.is(second.status, 403);
      t.regex((await second.json()).error, /already claimed by another device or browser/);
      const foreign = await upload(server.url, '/partial', JSON.stringify({ device: DEVICE, entries: { 'conv-x': ENTRY } }), {
        token,
        session: SESSION_A,
      });
      t.is(foreign.status, 400);
      t.regex((await foreign.json()).error, /not ops of the job: 1 entry, e.g. conv-x/);
      const malformed = await upload(server.url, '/partial', JSON.stringify({ device: DEVICE, entries: { [key]: { mean: -1 } } }), {
        token,
        session: SESSION_A,
      });
      t.is(malformed.status, 400);
      t.regex((await malformed.json()).error, /partial upload: .*\$\.entries/);
    } finally {
      await server.close();
    }
    // Killed and started again with the same --out: the same link, the same claim, the entry kept.
    const again = await startServer(out);
    try {
      t.is(again.token, token);
      t.is(again.server.resumedOps, 1);
      const resumed = await upload(again.server.url, '/session', '{}', { token, session: SESSION_A });
      t.deepEqual(await resumed.json(), { measured: [key], device: DEVICE });
      t.is((await upload(again.server.url, '/session', '{}', { token, session: SESSION_B })).status, 403);
    } finally {
      await again.server.close();
    }
  },
);

test.serial('the server refuses malformed, incomplete and oversized tables and writes nothing', async (t) => {
  const { server, out, token } = await startServer();
  try {
    const post = (body: string) => upload(server.url, '/table', body, { token, session: SESSION_A });
    const malformed = await post('{"entries": ');
    t.is(malformed.status, 400);
    t.regex((await malformed.json()).error, /not JSON/);
    const incomplete = await post(
      JSON.stringify({
        name: 'phone',
        deviceName: 'x',
        userAgent: 'x',
        cores: 4,
        tfjsVersion: '4',
        backend: 'wasm',
        dispatchMs: 0,
        probeMs: 1,
        entries: {},
        calibration: [],
      }),
    );
    t.is(incomplete.status, 400);
    t.regex((await incomplete.json()).error, /ops are missing/);
    const wrongType = await post(JSON.stringify({ name: 'phone', entries: 'lots' }));
    t.is(wrongType.status, 400);
    t.regex((await wrongType.json()).error, /posted measurements: .*\$\.entries/);
    const huge = await post(' '.repeat(MAX_BODY_BYTES + 10));
    t.is(huge.status, 413, 'a declared oversized body');
    // No content-length: the body arrives in chunks and crosses the limit on the way.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        const chunk = new Uint8Array(1024 * 1024).fill(32);
        for (let i = 0; i < 17; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const hugeChunked = await fetch(`${server.url}table`, {
      method: 'POST',
      headers: { 'x-profile-token': token, 'x-profile-session': SESSION_A },
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    t.is(hugeChunked.status, 413, 'a chunked oversized body');
    t.false(existsSync(out));
    const job = await (await fetch(`${server.url}job`)).json();
    t.true(job.ops.length > 0);
    t.is((await fetch(`${server.url}nothing`)).status, 404);
    // A request target that is not a URL (fetch cannot send one): answered 400, the server lives on.
    t.regex(await rawRequest(server.url, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/);
    t.is((await fetch(`${server.url}job`)).status, 200);
  } finally {
    await server.close();
  }
});

test('--host 0.0.0.0 lists the LAN addresses a phone can open, not 0.0.0.0; a named host is its own address', (t) => {
  const info = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
    family === 'IPv4'
      ? { address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null }
      : { address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, scopeid: 0 };
  const interfaces = {
    lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
    eth0: [info('fe80::1', 'IPv6'), info('192.168.1.20', 'IPv4'), info('2001:db8::5', 'IPv6')],
    wlan0: [info('10.0.0.7', 'IPv4')],
  };
  t.deepEqual(reachableUrls('0.0.0.0', 8377, interfaces), ['http://192.168.1.20:8377/', 'http://10.0.0.7:8377/']);
  t.deepEqual(reachableUrls('::', 8377, interfaces), ['http://192.168.1.20:8377/', 'http://10.0.0.7:8377/', 'http://[2001:db8::5]:8377/']);
  t.deepEqual(reachableUrls('0.0.0.0', 8377, { lo: interfaces.lo }), ['http://0.0.0.0:8377/'], 'no LAN address: the wildcard, as before');
  t.deepEqual(reachableUrls('127.0.0.1', 8377, interfaces), ['http://127.0.0.1:8377/']);
});

test.serial("the phone page's script bundles for a browser: nothing it imports needs a node: module", async (t) => {
  // Once broken by a message table that imported node:path into spec and table parsing: the page never loaded.
  const { server } = await startServer();
  try {
    const script = await fetch(`${server.url}profiler.js`);
    t.is(script.status, 200, await script.clone().text());
    t.true((await script.text()).length > 1000);
  } finally {
    await server.close();
  }
});
