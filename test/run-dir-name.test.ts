import path from 'node:path';
import test from 'ava';
import { defaultRunDir, safeDirName } from '../src/common/run-dir-name.js';

test('an experiment name becomes one readable directory name: no separators, spaces, parent or hidden directory', (t) => {
  t.is(safeDirName('v3-small_search.2'), 'v3-small_search.2');
  t.is(safeDirName('v3/small'), 'v3-small');
  t.is(safeDirName('../escape me/x'), 'escape-me-x');
  t.is(safeDirName('a\\b:c*?"<>|d'), 'a-b-c-d');
  t.is(safeDirName('.hidden'), 'hidden');
  t.is(safeDirName('größe 1'), 'größe-1');
  t.is(safeDirName('..'), 'run');
  t.is(safeDirName('/'), 'run');
});

test('the default run directory is runs/<safe name>-<UTC time>, inside runs/ whatever the name', (t) => {
  const at = new Date('2026-12-07T10:20:30.456Z');
  t.is(defaultRunDir('v3/small', at), path.join('runs', 'v3-small-2026-12-07T10-20-30'));
  t.is(defaultRunDir('../escape me/x-pipeline', at), path.join('runs', 'escape-me-x-pipeline-2026-12-07T10-20-30'));
  for (const name of ['..', '../..', '/etc/x', 'a/../../b']) t.is(path.dirname(defaultRunDir(name, at)), 'runs', name);
});
