/**
 * Ends a child process with its parent. A process forked with an IPC channel hears its parent go
 * (the channel's 'disconnect') only when its event loop runs; in a long synchronous stretch (a
 * validation pass, a model build) it would outlive the parent until the stretch ends. A small
 * thread polls the parent process id and kills this process the moment the parent is gone
 * (its children are then re-parented), whatever the main thread is doing.
 */
import { Worker } from 'node:worker_threads';

/** How often the watch looks at the parent process id. */
const WATCH_INTERVAL_MS = 100;

// The watch thread: CommonJS source for `eval`, so it needs no file of its own.
const WATCH_SOURCE = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.parent) process.kill(process.pid, 'SIGKILL');
}, workerData.intervalMs);
`;

/**
 * Kills this process (SIGKILL: at once, printing nothing) as soon as its parent is gone; the
 * caller still handles 'disconnect' for a clean exit while its event loop runs. The thread does
 * not keep the process alive.
 */
export function exitWithParent(intervalMs = WATCH_INTERVAL_MS): void {
  // execArgv: [] so that a parent's --input-type=module does not turn the source into an ES module.
  const watch = new Worker(WATCH_SOURCE, { eval: true, execArgv: [], workerData: { parent: process.ppid, intervalMs } });
  // Without the watch the caller's 'disconnect' handler still ends the process, only later.
  watch.on('error', () => undefined);
  watch.unref();
}
