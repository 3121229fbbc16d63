import test from 'ava';

// Before the module reads it: as npx (npm exec) starts the CLI.
process.env.npm_command = 'exec';
const { asTheUserRunsIt } = await import('../src/cli/invocation.js');

test('under npx, the commands a message names are written as npx nas commands; other words are left alone', (t) => {
  t.is(
    asTheUserRunsIt('train it standalone: nas train --arch runs/a/best.json\ncontinue with nas search --resume runs/nas search'),
    'train it standalone: npx nas train --arch runs/a/best.json\ncontinue with npx nas search --resume runs/nas search',
  );
  t.is(asTheUserRunsIt('(see `nas specs --list`)'), '(see `npx nas specs --list`)');
  t.is(asTheUserRunsIt('did you mean search? (see nas --help)'), 'did you mean search? (see npx nas --help)');
  t.is(asTheUserRunsIt('the nas tool, runs/nas train, nas trainer'), 'the nas tool, runs/nas train, nas trainer');
});
