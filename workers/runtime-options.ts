import { z } from 'zod';

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
