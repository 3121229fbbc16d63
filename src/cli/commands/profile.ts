import path from 'node:path';
import type { CommandModule } from 'yargs';
import { InputError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { endStatus, showStatus } from '../../common/status-line.js';
import { jobForSpace, jobForSpecs, type ProfileJobSpec } from '../../latency-model/measure/job.js';
import type { PhoneProgress } from '../../latency-model/measure/serve.js';
import { getSpace, spaceNames } from '../../search-space/spaces.js';
import type { BackendName } from '../../trainer/backend-names.js';
import { action, examples, givenCommand, loadSpecArgument, printJson } from '../common.js';
import { formatDuration, interruptSignal, ProgressReporter } from '../progress.js';
import { speedGateOptions } from './latency.js';
import { backendOption } from './train.js';

interface ProfileArgs {
  space?: string;
  arch?: string[];
  resolution?: number;
  backend: BackendName | 'auto';
  threads: number;
  out?: string;
  calibration: number;
  minSpeed: number;
  maxWait: number;
  serve?: boolean;
  port: number;
  host: string;
  qr?: boolean;
  json?: boolean;
}

function jobFromArgs(args: ProfileArgs): ProfileJobSpec {
  if (!args.space === !args.arch?.length) throw new InputError('give either --space NAME or --arch SPEC...');
  if (args.space) return jobForSpace(getSpace(args.space), { resolution: args.resolution, calibration: args.calibration });
  return jobForSpecs(
    args.arch!.map((a) => loadSpecArgument(a, { resolution: args.resolution })),
    args.resolution,
  );
}

const EXAMPLES = examples([
  ['$0 profile --space mobilenetv3 --out tables/mine.json', 'every op of a search space on this machine (resumable)'],
  ['$0 profile --arch my-spec.json --resolution 224 --out tables/mine.json', 'the ops of one spec'],
  ['$0 profile --serve --space mobilenetv3 --host 0.0.0.0 --out tables/phone.json', "a phone's browser profiles itself"],
]);

export const profileCommand: CommandModule<object, ProfileArgs> = {
  command: 'profile',
  describe: 'Measure a latency table on this machine (--space or --arch), or serve the profiler to a phone (--serve)',
  builder: (y) =>
    y
      .example(EXAMPLES)
      .option('space', { type: 'string', describe: `profile every op a space can produce: ${spaceNames().join(', ')}` })
      .option('arch', { type: 'string', array: true, describe: 'profile the ops of these specs (files or zoo names)' })
      .option('resolution', { type: 'number', describe: "input resolution (default: the space's or the spec's)" })
      .options(backendOption)
      .option('threads', { type: 'number', default: 1, describe: 'threads (the wasm backend runs 1 in Node)' })
      .option('out', {
        type: 'string',
        describe: 'table file, e.g. tables/mine.json (an existing one is completed); with --serve by default ./phone-<date>.json',
      })
      .option('calibration', {
        type: 'number',
        default: 16,
        describe: 'whole models of the --space measured to fit the constant overhead (with --arch: the specs themselves)',
      })
      .options(speedGateOptions)
      .option('serve', { type: 'boolean', describe: "serve the profiler page for a phone's browser" })
      .option('port', { type: 'number', default: 8377, describe: 'port of the --serve page' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind (0.0.0.0 to let a phone on the LAN connect)' })
      .option('qr', { type: 'boolean', describe: "print the --serve link's QR code (default: when stdout is a terminal)" })
      .option('json', { type: 'boolean', describe: 'print the summary as one JSON line' }) as never,
  handler: action<ProfileArgs>(async (args, { log }) => {
    if (args.serve) return await serveToPhone(args, log);
    if (!args.out) throw new InputError('--out is required (the table file to write)');
    if (args.threads !== 1)
      throw new InputError('--threads: only 1 is supported (tfjs-wasm runs single-threaded in Node, as the paper measures on phones)');
    const [{ prepareBackend }, { DEFAULT_PROFILER }, { profileToTable }] = await Promise.all([
      import('../../trainer/backend.js'),
      import('../../latency-model/measure/profile.js'),
      import('../../latency-model/measure/profile-run.js'),
    ]);
    const backend = await prepareBackend(args.backend);
    const job = jobFromArgs(args);
    log.info({ backend: backend.backend, threads: backend.threads, ops: job.ops.length, resolution: job.resolution }, 'profiling');
    const progress = new ProgressReporter(log);
    let result: Awaited<ReturnType<typeof profileToTable>>;
    try {
      result = await profileToTable({
        name: path.basename(args.out).replace(/\.json$/, ''),
        ops: job.ops,
        calibration: job.calibration,
        resolutions: [job.resolution],
        out: args.out,
        settings: DEFAULT_PROFILER,
        gate: { minSpeed: args.minSpeed, maxWaitSeconds: args.maxWait },
        command: givenCommand(),
        signal: interruptSignal(log),
        onProgress: (p) =>
          progress.update({
            fraction: p.done / Math.max(p.total, 1),
            text: `${p.phase} ${p.done}/${p.total} ${p.phase === 'ops' ? `ETA ${formatDuration(p.etaSeconds)}` : p.key}`,
            fields: { phase: p.phase, done: p.done, total: p.total },
          }),
      });
    } finally {
      progress.done();
    }
    const summary = {
      table: args.out,
      entries: Object.keys(result.table.entries).length,
      measured: result.measured,
      reused: result.reused,
      seconds: result.seconds,
      overheadMs: result.table.overheadMs,
    };
    log.info(summary, 'profiled');
    if (args.json) printJson(summary);
    else
      process.stdout.write(
        `${args.out}: ${summary.entries} entries (${summary.measured} measured now, ${summary.reused} kept) in ${formatDuration(summary.seconds)}, overhead ${summary.overheadMs.toFixed(3)} ms\n`,
      );
  }),
};

/** `--serve`: starts the server, prints its link (and QR code) and the phone's progress until Ctrl-C. */
async function serveToPhone(args: ProfileArgs, log: Logger): Promise<void> {
  const { serveProfiler } = await import('../../latency-model/measure/serve.js');
  const server = await serveProfiler({ host: args.host, port: args.port, job: jobFromArgs(args), out: args.out, log });
  const urls = server.phoneUrls;
  if (server.resumedOps)
    log.info(
      { measured: server.resumedOps, total: server.totalOps, session: server.sessionFile },
      `resuming: ${server.resumedOps} of ${server.totalOps} ops ${server.resumedOps === 1 ? 'was' : 'were'} uploaded before; reopen the same link on the same phone`,
    );
  const where = server.loopbackOnly
    ? `in a browser on this machine: the server listens on ${args.host} only, which a phone cannot reach; for a phone, start it with --host 0.0.0.0 (or this machine's network address), which makes it listen on the network`
    : "in the phone's browser (same network)";
  log.info(
    { url: server.url, phoneUrls: urls, out: server.out, session: server.sessionFile },
    `open ${urls.length > 1 ? `one of ${urls.join(' ')}` : urls[0]} ${where}; the link works for one browser only; the table is written to ${server.out} (Ctrl-C stops the server; starting it again continues)`,
  );
  // The link is the command's result: without it (the token is in no other output) the server is of no use.
  process.stdout.write(`${urls.join('\n')}\n`);
  if (args.qr ?? process.stdout.isTTY) {
    const QRCode = (await import('qrcode')).default;
    process.stdout.write(`${await QRCode.toString(urls[0]!, { type: 'terminal', small: true })}\n`);
  }
  server.onProgress((progress) => printPhoneProgress(progress));
  server.onTable((file, table) => {
    endStatus();
    process.stdout.write(`${file}: ${Object.keys(table.entries).length} entries from ${table.device.name}\n`);
  });
  await server.closed;
}

/** The phone's progress: a redrawn line on a terminal, a line per upload otherwise. */
function printPhoneProgress({ done, total, etaSeconds }: PhoneProgress): void {
  const line = `phone: ${done}/${total} ops, ETA ${formatDuration(etaSeconds)}${done === total ? ' (now timing whole models)' : ''}`;
  if (process.stdout.isTTY) showStatus(line);
  else process.stdout.write(`${line}\n`);
}
