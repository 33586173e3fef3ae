import { S3Client } from '@aws-sdk/client-s3';

/**
 * An S3 client configured as every AWS tool is: the SDK's default credential chain (environment,
 * shared config and profiles, container and instance roles) and its endpoint variables
 * (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), which it reads itself. tessera adds only what the SDK
 * does not do for a custom endpoint: path-style addressing (MinIO, Ceph RGW, moto and most
 * self-hosted stores have no per-bucket host names) and a region when none is configured.
 */
export interface S3ClientTimeouts {
  /** Connecting to the endpoint. */
  connectMs?: number;
  /** A socket silent this long (a stalled request or body) fails, and the read is tried again. */
  idleMs?: number;
}

/** Sockets kept open per client: image reads run many at once. */
const MAX_SOCKETS = 64;

export function s3ClientFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  timeouts: S3ClientTimeouts = {},
): S3Client {
  // The SDK warns once per process on Node < 22 that its releases after January 2027 will need 22.
  // The version tessera pins runs on Node 20 (package.json engines), so the warning would only
  // interleave with a run's progress; a user who sets the variable either way is left alone.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined);
  return new S3Client({
    // The SDK reads these variables too; passed on so that a caller's own `env` is the one used.
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(region ? { region } : {}),
    // Throttling (503 SlowDown) and 5xx are retried with backoff; adaptive mode also slows the
    // client down when the store keeps saying so.
    retryMode: 'adaptive',
    maxAttempts: 5,
    requestHandler: {
      connectionTimeout: timeouts.connectMs ?? 5_000,
      socketTimeout: timeouts.idleMs ?? 30_000,
      httpAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
      httpsAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
    },
  });
}

/** The endpoint requests go to, for messages (never with credentials). */
export function endpointOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? 'AWS S3';
}
