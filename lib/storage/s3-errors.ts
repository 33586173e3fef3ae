import { InputError } from '../core/errors.ts';
import { endpointOf } from './s3-client.ts';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** The HTTP status of an S3 error, if the request got an answer. */
export function statusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode;
}

const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH'];

function networkCode(error: unknown): string | undefined {
  for (let cause = error as SdkError | undefined, depth = 0; cause && depth < 5; depth++) {
    if (cause.code && NETWORK_CODES.includes(cause.code)) return cause.code;
    cause = cause.cause as SdkError | undefined;
  }
  return undefined;
}

/**
 * Why a request about `uri` failed, in one line a user can act on: no credentials, access denied,
 * no such bucket, the endpoint unreachable. Never includes credentials (the SDK's messages do not).
 */
export function describeS3Error(uri: string, error: unknown, endpoint = endpointOf()): string {
  const sdk = (error ?? {}) as SdkError;
  const network = networkCode(error);
  if (network) return `${uri}: cannot reach the S3 endpoint ${endpoint} (${network})`;
  switch (sdk.name) {
    case 'CredentialsProviderError':
      return `${uri}: no AWS credentials found (environment, shared config/profile, container or instance role)`;
    case 'NoSuchBucket':
      return `${uri}: the bucket does not exist at ${endpoint}`;
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return `${uri}: access denied by the store (check the credentials' permissions)`;
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
      return `${uri}: the store refused the credentials (${sdk.name})`;
  }
  if (statusOf(error) === 403) return `${uri}: access denied by the store (HTTP 403)`;
  return `${uri}: ${sdk.name ?? 'error'}: ${sdk.message ?? String(error)}`;
}

/** Failures a retry cannot fix: a wrong bucket, credentials or permissions. */
export function isPermanentS3Error(error: unknown): boolean {
  const name = (error as SdkError | undefined)?.name ?? '';
  return [
    'CredentialsProviderError',
    'NoSuchBucket',
    'AccessDenied',
    'AllAccessDisabled',
    'InvalidAccessKeyId',
    'SignatureDoesNotMatch',
  ].includes(name);
}

/**
 * The store could not be reached or answered 5xx after the SDK's retries: worth retrying later (an
 * activity's retry), unlike an input error. Preflight turns it into an input error (fail fast).
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** Whether the failure is the network's or the store's own (5xx): another try may succeed. */
export function isTransientS3Error(error: unknown): boolean {
  const status = statusOf(error);
  return networkCode(error) !== undefined || (status !== undefined && status >= 500);
}

/** The same failure as an input error (non-retryable in activities), naming the URI and cause. */
export function s3InputError(uri: string, error: unknown, endpoint?: string): InputError {
  return new InputError(describeS3Error(uri, error, endpoint), { cause: error });
}
