import { existsSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { type NetworkInterfaceInfo, tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { chromium } from 'playwright-core';
import { silentLogger } from '../src/common/log.js';
import { jobForSpecs } from '../src/latency-model/measure/job.js';
import { MAX_BODY_BYTES, reachableUrls, serveProfiler } from '../src/latency-model/measure/serve.js';
import { readLatencyTable } from '../src/latency-model/predict/table-schema.js';
import { tinySpec } from './helpers/tiny.js';

const CHROMIUM = '/usr/bin/chromium';
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

async function startServer() {
  const out = path.join(tmp(), 'phone.json');
  const job = jobForSpecs([tinySpec({ resolution: 16, channels: 3 })]);
  const server = await serveProfiler({ host: '127.0.0.1', port: 0, job, out, log: silentLogger });
  return { server, out, job };
}

test.serial('the phone profiler page measures every op in headless Chromium and the server writes the table', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.log(`${CHROMIUM} is not installed (apt-get install chromium; .ci/run does): skipped`);
    t.pass();
    return;
  }
  const { server, out, job } = await startServer();
  const received = new Promise<string>((resolve) => server.onTable((file) => resolve(file)));
  const browser = await chromium.launch({
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
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}?autostart`);
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 180_000 });
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

test.serial('the server refuses malformed, incomplete and oversized tables and writes nothing', async (t) => {
  const { server, out } = await startServer();
  try {
    const post = (body: string) => fetch(`${server.url}table`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
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
    const hugeChunked = await fetch(`${server.url}table`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
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
