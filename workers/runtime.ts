import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

/** Expected in tessera's layout (workflows run on the CPU queue only), so not worth a warning. */
const EXPECTED_WARNINGS = [/No workflows registered, not polling for workflow tasks/];

export type LogFormat = 'text' | 'json';

export interface RuntimeOptions {
  /** Default: TESSERA_LOG_LEVEL, else INFO for JSON logs and WARN for text (a progress bar's terminal). */
  level?: LogLevel;
  /** `json`: one object per line on stderr, with the SDK's workflow/run/activity ids and tessera's split/shard. */
  format?: LogFormat;
  /** host:port for a Prometheus endpoint (`/metrics`) with the Temporal SDK's worker metrics. */
  metricsAddress?: string;
}

function jsonLine(entry: LogEntry): string {
  const meta = Object.fromEntries(
    Object.entries(entry.meta ?? {}).map(([key, value]) => [key, value instanceof Error ? { name: value.name, message: value.message } : value]),
  );
  // LogEntry.timestampNanos is nanoseconds since the epoch.
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify({ time, level: entry.level, message: entry.message, ...meta }) + '\n';
}

/**
 * Installs the process-wide Temporal runtime: log level and format, and metrics. Must run before
 * the first worker or native connection; later calls in the same process are no-ops.
 */
export function installRuntime(options: RuntimeOptions = {}): void {
  const format = options.format ?? (process.env.TESSERA_LOG_FORMAT as LogFormat | undefined) ?? 'text';
  const level = options.level ?? (process.env.TESSERA_LOG_LEVEL as LogLevel | undefined) ?? (format === 'json' ? 'INFO' : 'WARN');
  const metricsAddress = options.metricsAddress ?? process.env.TESSERA_METRICS_ADDRESS;
  const text = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (EXPECTED_WARNINGS.some((pattern) => pattern.test(entry.message))) return;
    if (format === 'json') process.stderr.write(jsonLine(entry));
    else text.log(entry.level, entry.message, entry.meta);
  });
  try {
    Runtime.install({ logger, telemetryOptions: metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : undefined });
  } catch {
    // already installed in this process
  }
}
