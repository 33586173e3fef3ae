import { nearestFlag, USAGE } from './usage-text.ts';

/**
 * Each command's module, loaded when that command runs: `tessera --help`, `status` on a folder and
 * a mistyped flag need neither the Temporal SDK nor onnxruntime, DuckDB or sharp, which take
 * seconds to load; the commands load what they use once their flags are read.
 */
const COMMANDS: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  run: async () => (await import('./run-command.ts')).runCommand,
  worker: async () => (await import('./local-commands.ts')).workerCommand,
  dev: async () => (await import('./local-commands.ts')).devCommand,
  'sample-data': async () => (await import('./local-commands.ts')).sampleDataCommand,
  report: async () => (await import('./report-command.ts')).reportCommand,
  index: async () => (await import('./index-command.ts')).indexCommand,
  search: async () => (await import('./search-command.ts')).searchCommand,
  evaluate: async () => (await import('./evaluate-command.ts')).evaluateCommand,
  serve: async () => (await import('./serve-command.ts')).serveCommand,
  status: async () => (await import('./status-command.ts')).statusCommand,
  cancel: async () => (await import('./cancel-command.ts')).cancelCommand,
  schedule: async () => (await import('./schedule-command.ts')).scheduleCommand,
};

/** The one line under a usage mistake: the usage itself would push the mistake off the screen. */
function helpHint(command?: string): string {
  return command ? `Try 'tessera ${command} --help' for its usage.\n` : `Try 'tessera --help' for the commands.\n`;
}

/**
 * What each failure tells the user, and the exit code, by the error's class name: the classes live
 * in the modules of the commands that throw them, which main does not load to tell them apart.
 */
function failure(command: string, error: unknown): { code: number; text: string } {
  const said = (code: number, text: string) => ({ code, text: `tessera ${command}: ${text}\n` });
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (name === 'UsageError' || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')))
    return { code: 2, text: said(2, message).text + helpHint(command) };
  // Another run holds the output folder: refused before anything changed, like bad usage; the
  // other run is unaffected, so this is not "the run failed" (1).
  if (name === 'LeaseHeldError') return said(2, message);
  // Same code as preflight's "output folder is not writable" in a run on a cluster: the run cannot be done as asked.
  // A server that does not start says why in its own log lines, which the message carries; a stack adds nothing.
  if (name === 'OutputFolderError' || name === 'DevServerStartError') return said(1, message);
  if (name === 'RunCancelledError') return said(3, message);
  if (name === 'RunFailedError') {
    const log = (error as { log?: string }).log;
    return said(1, `run failed: ${message}${log ? `\ntessera ${command}: details in ${log}` : ''}`);
  }
  return said(1, error instanceof Error ? (error.stack ?? message) : message);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    const near = nearestFlag(command, Object.keys(COMMANDS));
    process.stderr.write(
      `tessera: unknown command ${JSON.stringify(command)}${near ? `: did you mean ${near}?` : ''}\n${helpHint()}`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const { usageOf } = await import('./usage.ts');
    process.stdout.write(`${usageOf(command)}\n`);
    return 0;
  }
  try {
    return await (
      await load()
    )(rest);
  } catch (error) {
    const { code, text } = failure(command, error);
    process.stderr.write(text);
    return code;
  }
}
