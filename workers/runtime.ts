import fs from 'node:fs';
import { inspect } from 'node:util';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { RuntimeOptions } from './runtime-options.ts';

/** Expected in tessera's layout (workflows run on the CPU queue only), so not worth a warning. */
const EXPECTED_WARNINGS = [/No workflows registered, not polling for workflow tasks/];

// The options' schema is apart (runtime-options.ts), so that a worker's flags are read without the SDK.
export { RuntimeOptionsSchema, type RuntimeOptions } from './runtime-options.ts';

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
