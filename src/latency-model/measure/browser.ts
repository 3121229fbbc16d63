/**
 * The profiler page's script (bundled by `nas profile --serve`): runs the same op and model timing
 * as the Node profiler, in the browser's tfjs-wasm (XNNPACK, the kernels TFLite also uses on phone
 * CPUs), then posts the measurements back to the server, which builds and checks the table.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { ArchSpec } from '../../search-space/archspec.js';
import { type OpDescriptor, opKey } from '../predict/ops.js';
import type { Entry, ProfilerSettings } from '../predict/table-schema.js';
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

async function run(): Promise<void> {
  const button = document.getElementById('start') as HTMLButtonElement | null;
  if (button) button.disabled = true;
  try {
    setWasmPaths(new URL('/wasm/', location.href).href);
    await tf.setBackend('wasm');
    await tf.ready();
    tf.enableProdMode();
    const job = (await (await fetch('/job')).json()) as ProfileJob;
    status('warming up');
    await nextFrame();
    warmUp();
    const dispatchMs = measureDispatchMs(job.settings);
    const probe = new SpeedProbe(job.settings);
    const probeMs = Math.min(probe.measure(), probe.measure(), probe.measure());
    const entries: Record<string, Entry> = {};
    const started = performance.now();
    let speed = 1;
    for (const [i, op] of job.ops.entries()) {
      if (i % 20 === 19) speed = probeMs / probe.measure();
      entries[opKey(op)] = atReferenceSpeed(profileOp(op, job.settings, dispatchMs), speed);
      if (i % 5 === 0) {
        const eta = (((performance.now() - started) / (i + 1)) * (job.ops.length - i - 1)) / 1000;
        status(`measured ${i + 1} of ${job.ops.length} ops, about ${Math.ceil(eta)} s left`);
        await nextFrame();
      }
    }
    const calibration = [];
    for (const [i, spec] of job.calibration.entries()) {
      status(`measuring whole model ${i + 1} of ${job.calibration.length}`);
      await nextFrame();
      calibration.push({ name: spec.name, measuredMs: measureSpec(spec, job.settings) * (probeMs / probe.measure()) });
    }
    probe.dispose();
    const nameInput = document.getElementById('device') as HTMLInputElement | null;
    const body: BrowserMeasurements = {
      name: job.name,
      deviceName: nameInput?.value || navigator.userAgent,
      userAgent: navigator.userAgent,
      cores: navigator.hardwareConcurrency ?? 0,
      tfjsVersion: tf.version.tfjs,
      backend: tf.getBackend(),
      dispatchMs,
      probeMs,
      entries,
      calibration,
    };
    const response = await fetch('/table', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const result = (await response.json()) as { file?: string; error?: string };
    status(response.ok ? `done: the server wrote ${result.file}` : `the server refused the table: ${result.error}`);
    document.body.dataset['state'] = response.ok ? 'done' : 'error';
  } catch (err) {
    status(`failed: ${(err as Error).message}`);
    document.body.dataset['state'] = 'error';
  }
}

document.getElementById('start')?.addEventListener('click', () => void run());
if (new URLSearchParams(location.search).has('autostart')) void run();
