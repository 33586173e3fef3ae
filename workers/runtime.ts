import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

/**
 * Installs the process-wide Temporal runtime with a log level (TESSERA_LOG_LEVEL, default WARN),
 * so a `tessera run` shows its progress bar rather than every worker state change. Must run before
 * the first worker or native connection; later calls are no-ops.
 */
export function installRuntime(level: LogLevel = (process.env.TESSERA_LOG_LEVEL as LogLevel | undefined) ?? 'WARN'): void {
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // already installed in this process
  }
}
