import type { Duration } from '@temporalio/common';
import { z } from 'zod';
import { ALLOW_ROOTS_ENV } from '../lib/run-folder/confinement.ts';
import { connectionFlags, type ConnectionFlagValues } from '../lib/temporal/connection.ts';
import { durationFlag, UsageError } from './run-options.ts';
import { resolveTarget } from './temporal-target.ts';
import { workerRoots } from './worker-roots.ts';
import { RuntimeOptionsSchema, type RuntimeOptions } from '../workers/runtime-options.ts';

/** `tessera worker`'s flags (parseArgs specs); the connection flags are lib/temporal/connection.ts's. */
export const workerFlags = {
  ...connectionFlags,
  queues: { type: 'string' },
  'inference-concurrency': { type: 'string' },
  'intra-op-threads': { type: 'string' },
  'micro-batch': { type: 'string' },
  'decode-threads': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-address': { type: 'string' },
  'shutdown-grace': { type: 'string' },
  'allow-root': { type: 'string', multiple: true },
} as const;

const positiveInt = z.coerce.number().int().min(1);

/** One schema for a worker's options, from flags or (where named) the environment. */
const WorkerOptionsSchema = z
  .object({
    queues: z.array(z.enum(['cpu', 'inference'])).min(1),
    inferenceConcurrency: positiveInt.optional(),
    intraOpThreads: positiveInt.optional(),
    microBatch: positiveInt.optional(),
    decodeThreads: positiveInt.optional(),
    logFormat: RuntimeOptionsSchema.shape.format,
    logLevel: RuntimeOptionsSchema.shape.level,
    metricsAddress: RuntimeOptionsSchema.shape.metricsAddress,
  })
  .strict();

type Flags = ConnectionFlagValues &
  Partial<Record<Exclude<keyof typeof workerFlags, keyof typeof connectionFlags | 'allow-root'>, string>> & {
    'allow-root'?: string[];
  };

const FLAG_OF: Record<string, string> = {
  queues: '--queues',
  inferenceConcurrency: '--inference-concurrency or TESSERA_INFERENCE_CONCURRENCY',
  intraOpThreads: '--intra-op-threads',
  microBatch: '--micro-batch',
  decodeThreads: '--decode-threads or TESSERA_DECODE_THREADS',
  logFormat: '--log-format or TESSERA_LOG_FORMAT',
  logLevel: '--log-level or TESSERA_LOG_LEVEL',
  metricsAddress: '--metrics-address or TESSERA_METRICS_ADDRESS',
};

function issuesText(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${FLAG_OF[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}`)
    .join('; ');
}

/** Logging and metrics of a process without worker flags (the embedded run), from the environment only. */
export function runtimeOptionsFromEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeOptions {
  const parsed = RuntimeOptionsSchema.safeParse({
    format: env.TESSERA_LOG_FORMAT || undefined,
    level: env.TESSERA_LOG_LEVEL?.toUpperCase() || undefined,
    metricsAddress: env.TESSERA_METRICS_ADDRESS || undefined,
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      format: 'TESSERA_LOG_FORMAT',
      level: 'TESSERA_LOG_LEVEL',
      metricsAddress: 'TESSERA_METRICS_ADDRESS',
    };
    throw new UsageError(
      parsed.error.issues
        .map((issue) => `${names[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}`)
        .join('; '),
    );
  }
  return parsed.data;
}

/** The embedded run's decode threads (TESSERA_DECODE_THREADS), undefined for half the cores. */
export function decodeThreadsFromEnvironment(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const parsed = positiveInt.optional().safeParse(env.TESSERA_DECODE_THREADS || undefined);
  if (!parsed.success)
    throw new UsageError(`TESSERA_DECODE_THREADS: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  return parsed.data;
}

/** Every worker setting checked before connecting, each error naming its flag or variable. */
export function parseWorkerOptions(flags: Flags, env: NodeJS.ProcessEnv = process.env) {
  const parsed = WorkerOptionsSchema.safeParse({
    queues: (flags.queues ?? 'cpu,inference').split(',').map((queue) => queue.trim()),
    inferenceConcurrency: flags['inference-concurrency'] ?? (env.TESSERA_INFERENCE_CONCURRENCY || undefined),
    intraOpThreads: flags['intra-op-threads'],
    microBatch: flags['micro-batch'],
    decodeThreads: flags['decode-threads'] ?? (env.TESSERA_DECODE_THREADS || undefined),
    logFormat: flags['log-format'] ?? (env.TESSERA_LOG_FORMAT || undefined),
    logLevel: (flags['log-level'] ?? (env.TESSERA_LOG_LEVEL || undefined))?.toUpperCase(),
    metricsAddress: flags['metrics-address'] ?? (env.TESSERA_METRICS_ADDRESS || undefined),
  });
  if (!parsed.success) {
    throw new UsageError(issuesText(parsed.error));
  }
  return {
    ...parsed.data,
    target: resolveTarget(flags, env),
    allowRoots: workerRoots(flags['allow-root'] ?? [], env[ALLOW_ROOTS_ENV]),
    shutdownGraceTime:
      `${durationFlag('shutdown-grace', flags['shutdown-grace'] ?? '5m', { allowZero: true })} ms` as Duration,
  };
}
