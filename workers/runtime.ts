import fs from 'node:fs';
import { inspect } from 'node:util';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { z } from 'zod';

/** Expected in tessera's layout (workflows run on the CPU queue only), so not worth a warning. */
const EXPECTED_WARNINGS = [/No workflows registered, not polling for workflow tasks/];

/** A worker process's logging and metrics, from its flags or the environment (cli/worker-options.ts reads both). */
export const RuntimeOptionsSchema = z.object({
  /** `json`: one object per line on stderr, with the SDK's workflow/run/activity ids and tessera's split/shard. */
  format: z.enum(['text', 'json']).optional(),
  /** Default: INFO for JSON logs and WARN for text (a progress bar's terminal). */
  level: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).optional(),
  /** host:port for a Prometheus endpoint (`/metrics`) with the Temporal SDK's worker metrics. */
  metricsAddress: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'must be HOST:PORT')
    .optional(),
  /**
   * The embedded run's log (OUT/.tessera/tessera.log): every entry goes there (default level INFO)
   * and none to the terminal, which shows the run's progress and one line per failure.
   */
  logFile: z.string().optional(),
  /** With logFile: the entries also go to stderr as they come (`tessera run --verbose`). */
  echo: z.boolean().optional(),
});
export type RuntimeOptions = z.infer<typeof RuntimeOptionsSchema>;

function jsonLine(entry: LogEntry): string {
  const meta = Object.fromEntries(
    Object.entries(entry.meta ?? {}).map(([key, value]) => [
      key,
      value instanceof Error ? { name: value.name, message: value.message } : value,
    ]),
  );
  // LogEntry.timestampNanos is nanoseconds since the epoch.
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify({ time, level: entry.level, message: entry.message, ...meta }) + '\n';
}

function fileLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta =
    entry.meta && Object.keys(entry.meta).length > 0
      ? ` ${inspect(entry.meta, { depth: 4, breakLength: Infinity })}`
      : '';
  return `${time} [${entry.level}] ${entry.message}${meta}\n`;
}

/**
 * Installs the process-wide Temporal runtime: log level and format, and metrics. Must run before
 * the first worker or native connection; later calls in the same process are no-ops.
 */
export function installRuntime(options: RuntimeOptions = {}): void {
  const format = options.format ?? 'text';
  const level = options.level ?? (format === 'json' || options.logFile ? 'INFO' : 'WARN');
  const { metricsAddress } = options;
  const text = new DefaultLogger(level);
  const toTerminal = (entry: LogEntry) => {
    if (format === 'json') process.stderr.write(jsonLine(entry));
    else text.log(entry.level, entry.message, entry.meta);
  };
  // Opened once for the process, like the runtime itself; appended to, so earlier runs' entries stay.
  const logFd = options.logFile === undefined ? undefined : fs.openSync(options.logFile, 'a');
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (EXPECTED_WARNINGS.some((pattern) => pattern.test(entry.message))) return;
    if (logFd === undefined) return toTerminal(entry);
    fs.writeSync(logFd, format === 'json' ? jsonLine(entry) : fileLine(entry));
    if (options.echo) toTerminal(entry);
  });
  try {
    Runtime.install({
      logger,
      telemetryOptions: metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : undefined,
    });
  } catch {
    // already installed in this process
  }
}
