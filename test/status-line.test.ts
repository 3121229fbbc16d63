import test from 'ava';
import { endStatus, showStatus, writeAboveStatus } from '../src/common/status-line.js';

/** What the calls wrote to stderr. */
function stderrOf(calls: () => void): string {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
  try {
    calls();
  } finally {
    process.stderr.write = write;
  }
  return written.join('');
}

test('a status line ended after its last update stays on screen; one ended after a closing log is erased', (t) => {
  const kept = stderrOf(() => {
    writeAboveStatus('started\n');
    showStatus('[####] 50%');
    endStatus();
  });
  t.true(kept.endsWith('[####] 50%\n'), JSON.stringify(kept));
  const erased = stderrOf(() => {
    showStatus('[########] 100%');
    writeAboveStatus('trained: top-1 80%\n');
    endStatus();
  });
  t.true(erased.endsWith('trained: top-1 80%\n[########] 100%\r\x1b[2K'), JSON.stringify(erased));
});
