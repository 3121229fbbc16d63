/** exitWithParent: a child process blocked in synchronous work still ends with its parent. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import test from 'ava';

const WATCH_MODULE = new URL('../src/common/parent-watch.js', import.meta.url).href;

// The child: starts the watch, says so, then blocks its event loop for a minute.
const CHILD = `import { exitWithParent } from ${JSON.stringify(WATCH_MODULE)};
exitWithParent();
process.send('watching');
const end = Date.now() + 60_000;
while (Date.now() < end) {}
process.stderr.write('still running after the busy minute\\n');`;

// The parent: forks the child, reports its pid once it watches, then waits to be killed.
const PARENT = `const { fork } = require('node:child_process');
const child = fork('--input-type=module', [], { execArgv: ['--input-type=module', '-e', ${JSON.stringify(CHILD)}], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
child.on('message', () => console.log(child.pid));
setInterval(() => {}, 1000);`;

function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z';
  } catch {
    return false;
  }
}

test('a child blocked in synchronous work exits within a second of its parent getting kill -9, printing nothing', async (t) => {
  const parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  parent.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const childPid = await new Promise<number>((resolve) => parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))));
  t.teardown(() => {
    if (isAlive(childPid)) process.kill(childPid, 'SIGKILL');
  });
  t.true(isAlive(childPid));
  parent.kill('SIGKILL');
  await new Promise((r) => parent.once('exit', r));
  const killedAt = performance.now();
  while (isAlive(childPid) && performance.now() - killedAt < 10_000) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - killedAt) / 1000;
  t.log(`the blocked child was gone ${seconds.toFixed(2)} s after its parent`);
  t.true(seconds < 1, `the child outlived its parent by ${seconds.toFixed(2)} s`);
  t.is(stderr, '');
});
