import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

/** Expected in tessera's layout (workflows run on the CPU queue only), so not worth a warning. */
const EXPECTED_WARNINGS = [/No workflows registered, not polling for workflow tasks/];

/**
 * Installs the process-wide Temporal runtime with a log level (TESSERA_LOG_LEVEL, default WARN),
 * so a `tessera run` shows its progress bar rather than every worker state change. Must run before
 * the first worker or native connection; later calls are no-ops.
 */
export function installRuntime(level: LogLevel = (process.env.TESSERA_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  const fallback = new DefaultLogger(level);
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (EXPECTED_WARNINGS.some((pattern) => pattern.test(entry.message))) return;
    fallback.log(entry.level, entry.message, entry.meta);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // already installed in this process
  }
}
