/**
 * The profiler page's script (bundled by `nas profile --serve`): runs the same op and model timing
 * as the Node profiler, in the browser's tfjs-wasm (XNNPACK, the kernels TFLite also uses on phone
 * CPUs), then posts the measurements back to the server, which builds and checks the table.
 * Measured ops are uploaded every few seconds; a reopened page (same browser, same link) is told
 * which ops the server has and measures only the rest. Every upload carries the link's token and
 * this browser's session id (see ./phone-session.ts).
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { ArchSpec } from '../../search-space/archspec.js';
import { tf } from '../../trainer/tf.js';
import { type OpDescriptor, opKey } from '../predict/ops.js';
import type { Entry, ProfilerSettings } from '../predict/table-schema.js';
import type { PhoneDevice } from './phone-session.js';
import { atReferenceSpeed, measureDispatchMs, measureSpec, profileOp, SpeedProbe, warmUp } from './profile.js';

export interface ProfileJob {
  name: string;
  ops: OpDescriptor[];
  calibration: ArchSpec[];
  settings: ProfilerSettings;
}

export interface BrowserMeasurements {
  name: string;
  deviceName: string;
  userAgent: string;
  cores: number;
  tfjsVersion: string;
  backend: string;
  dispatchMs: number;
  /** The speed probe's latency when profiling began: entries are scaled to that speed (phones throttle as they heat up). */
  probeMs: number;
  entries: Record<string, Entry>;
  calibration: { name: string; measuredMs: number }[];
}

const status = (text: string) => {
  const el = document.getElementById('status');
  if (el) el.textContent = text;
};

/** Lets the page repaint between measurements. */
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Measured ops are uploaded at most this often (and the first one at once). */
const UPLOAD_EVERY_MS = 3000;

interface Credentials {
  token: string;
  session: string;
}

/** What the server answers a page that starts: the ops it already has and the readings they were scaled with. */
interface SessionAnswer {
  measured: string[];
  device: PhoneDevice | null;
}

/** The server refused an upload (403): another device holds the link, or the token is wrong. */
class UploadRefused extends Error {}

/**
 * The link's token and this browser's session id, kept in localStorage so that a reloaded or
 * reopened page is the same session. (Drawn with getRandomValues: randomUUID needs a secure
 * context, and a LAN address over http is not one.)
 */
function credentials(): Credentials {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const storageKey = `nas-profile-session:${token}`;
  let session: string | null = null;
  try {
    session = localStorage.getItem(storageKey);
  } catch {
    // storage disabled: this page load is a session of its own
  }
  if (!session || !/^[0-9a-f]{32}$/.test(session)) {
    session = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    try {
      localStorage.setItem(storageKey, session);
    } catch {
      // as above
    }
  }
  return { token, session };
}

async function upload<T>(path: string, credentials: Credentials, body: unknown): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-profile-token': credentials.token, 'x-profile-session': credentials.session },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as T & { error?: string };
  if (response.status === 403) throw new UploadRefused(answer.error ?? 'refused');
  if (!response.ok) throw new Error(answer.error ?? `the server answered ${response.status}`);
  return answer;
}

const NO_WAKE_LOCK =
  'This browser cannot keep the screen on here (the Wake Lock API needs HTTPS or is missing): set the screen timeout to its longest, or touch the screen now and then.';

/**
 * Keeps the screen on while profiling where the browser allows it (Screen Wake Lock API, taken
 * again when the tab comes back to the front); otherwise says what to do. Returns the release.
 */
async function keepScreenAwake(): Promise<() => void> {
  const show = (state: string, text: string) => {
    document.body.dataset['wakeLock'] = state;
    const el = document.getElementById('wake');
    if (el) el.textContent = text;
  };
  if (!('wakeLock' in navigator) || !navigator.wakeLock) {
    show('unavailable', NO_WAKE_LOCK);
    return () => undefined;
  }
  let sentinel: WakeLockSentinel | null = null;
  const acquire = async () => {
    try {
      sentinel = await navigator.wakeLock.request('screen');
      show('held', 'The screen is kept on while profiling.');
    } catch (err) {
      show('refused', `${NO_WAKE_LOCK} (${(err as Error).message})`);
    }
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible' && (!sentinel || sentinel.released)) void acquire();
  };
  document.addEventListener('visibilitychange', onVisible);
  await acquire();
  return () => {
    document.removeEventListener('visibilitychange', onVisible);
    void sentinel?.release().catch(() => undefined);
  };
}

/** This browser's readings: an earlier page load's when resuming (so entries stay at one reference speed), else measured now. */
function deviceReadings(job: ProfileJob, earlier: PhoneDevice | null, probe: SpeedProbe): PhoneDevice {
  warmUp();
  return {
    userAgent: navigator.userAgent,
    cores: navigator.hardwareConcurrency ?? 0,
    tfjsVersion: tf.version.tfjs,
    backend: tf.getBackend(),
    dispatchMs: earlier?.dispatchMs ?? measureDispatchMs(job.settings),
    probeMs: earlier?.probeMs ?? Math.min(probe.measure(), probe.measure(), probe.measure()),
  };
}

/** Times the ops the server lacks, uploading them as it goes; the entries of this page load. */
async function measureOps(
  job: ProfileJob,
  device: PhoneDevice,
  probe: SpeedProbe,
  measured: ReadonlySet<string>,
  credentials: Credentials,
) {
  const todo = job.ops.filter((op) => !measured.has(opKey(op)));
  const entries: Record<string, Entry> = {};
  let unsent: Record<string, Entry> = {};
  const sendUnsent = async () => {
    const sending = unsent;
    unsent = {};
    if (!Object.keys(sending).length) return;
    try {
      await upload('/partial', credentials, { device, entries: sending });
    } catch (err) {
      if (err instanceof UploadRefused) throw err;
      unsent = { ...sending, ...unsent }; // the network dropped it: sent again with the next upload
    }
  };
  const started = performance.now();
  let lastUpload = Number.NEGATIVE_INFINITY;
  let speed = measured.size ? device.probeMs / probe.measure() : 1;
  for (const [i, op] of todo.entries()) {
    if (i % 20 === 19) speed = device.probeMs / probe.measure();
    const entry = atReferenceSpeed(profileOp(op, job.settings, device.dispatchMs), speed);
    entries[opKey(op)] = entry;
    unsent[opKey(op)] = entry;
    if (performance.now() - lastUpload > UPLOAD_EVERY_MS) {
      await sendUnsent();
      lastUpload = performance.now();
    }
    if (i % 5 === 0) {
      const eta = (((performance.now() - started) / (i + 1)) * (todo.length - i - 1)) / 1000;
      status(`measured ${measured.size + i + 1} of ${job.ops.length} ops, about ${Math.ceil(eta)} s left`);
      await nextFrame();
    }
  }
  await sendUnsent();
  if (Object.keys(unsent).length)
    throw new Error('the server cannot be reached: reload this page when it can (what it received is kept; the rest is measured again)');
  return entries;
}

async function measureModels(job: ProfileJob, probe: SpeedProbe, probeMs: number) {
  const calibration = [];
  for (const [i, spec] of job.calibration.entries()) {
    status(`measuring whole model ${i + 1} of ${job.calibration.length}`);
    await nextFrame();
    calibration.push({ name: spec.name, measuredMs: measureSpec(spec, job.settings) * (probeMs / probe.measure()) });
  }
  return calibration;
}

async function profile(credentials: Credentials): Promise<string> {
  status('connecting');
  const earlier = await upload<SessionAnswer>('/session', credentials, {});
  setWasmPaths(new URL('/wasm/', location.href).href);
  await tf.setBackend('wasm');
  await tf.ready();
  tf.enableProdMode();
  const job = (await (await fetch('/job')).json()) as ProfileJob;
  const measured = new Set(earlier.measured);
  document.body.dataset['resumed'] = String(measured.size);
  status(
    measured.size
      ? `resuming: ${measured.size} of ${job.ops.length} ops ${measured.size === 1 ? 'was' : 'were'} measured before`
      : 'warming up',
  );
  await nextFrame();
  const probe = new SpeedProbe(job.settings);
  try {
    const device = deviceReadings(job, earlier.device, probe);
    const entries = await measureOps(job, device, probe, measured, credentials);
    const calibration = await measureModels(job, probe, device.probeMs);
    const nameInput = document.getElementById('device') as HTMLInputElement | null;
    const body: BrowserMeasurements = {
      name: job.name,
      deviceName: nameInput?.value || navigator.userAgent,
      ...device,
      entries,
      calibration,
    };
    return (await upload<{ file: string }>('/table', credentials, body)).file;
  } finally {
    probe.dispose();
  }
}

async function run(): Promise<void> {
  const button = document.getElementById('start') as HTMLButtonElement | null;
  if (button) button.disabled = true;
  const releaseWakeLock = await keepScreenAwake();
  try {
    const file = await profile(credentials());
    status(`done: the server wrote ${file}`);
    document.body.dataset['state'] = 'done';
  } catch (err) {
    status(err instanceof UploadRefused ? `the server refused the upload: ${err.message}` : `failed: ${(err as Error).message}`);
    document.body.dataset['state'] = err instanceof UploadRefused ? 'refused' : 'error';
  } finally {
    releaseWakeLock();
  }
}

document.getElementById('start')?.addEventListener('click', () => void run());
if (new URLSearchParams(location.search).has('autostart')) void run();
