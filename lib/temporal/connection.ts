import fs from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { z } from 'zod';

/**
 * The one owner of how tessera reaches a Temporal cluster: address, namespace, TLS (mTLS) and API
 * key, from flags or, as the Temporal CLI reads them, the environment. Every command and the
 * worker connect through it, so a setting honoured by one is honoured by all.
 */

/** Flags every command that talks to a cluster takes (parseArgs specs). */
export const connectionFlags = {
  address: { type: 'string' },
  namespace: { type: 'string' },
  'api-key': { type: 'string' },
  tls: { type: 'boolean' },
  'tls-cert-path': { type: 'string' },
  'tls-key-path': { type: 'string' },
  'tls-ca-path': { type: 'string' },
  'tls-server-name': { type: 'string' },
} as const;

export type ConnectionFlagValues = Partial<{
  address: string;
  namespace: string;
  'api-key': string;
  tls: boolean;
  'tls-cert-path': string;
  'tls-key-path': string;
  'tls-ca-path': string;
  'tls-server-name': string;
}>;

/** The environment variables, named as the Temporal CLI names them. */
const ENV = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  apiKey: 'TEMPORAL_API_KEY',
  tls: 'TEMPORAL_TLS',
  tlsCertPath: 'TEMPORAL_TLS_CERT',
  tlsKeyPath: 'TEMPORAL_TLS_KEY',
  tlsCaPath: 'TEMPORAL_TLS_CA',
  tlsServerName: 'TEMPORAL_TLS_SERVER_NAME',
} as const;

export const DEFAULT_ADDRESS = '127.0.0.1:7233';

export const TemporalTargetSchema = z
  .object({
    address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^\s:[\]]+):\d{1,5}$/, 'must be HOST:PORT'),
    namespace: z.string().min(1),
    apiKey: z.string().min(1).optional(),
    /** TLS on: asked for, or implied by an API key or any TLS file. */
    tls: z.boolean(),
    tlsCertPath: z.string().min(1).optional(),
    tlsKeyPath: z.string().min(1).optional(),
    tlsCaPath: z.string().min(1).optional(),
    tlsServerName: z.string().min(1).optional(),
  })
  .strict()
  .refine(
    (t) => (t.tlsCertPath === undefined) === (t.tlsKeyPath === undefined),
    'a client certificate needs its key, and a key its certificate (--tls-cert-path with --tls-key-path)',
  );
export type TemporalTarget = z.infer<typeof TemporalTargetSchema>;

export class ConnectionSettingsError extends Error {
  override name = 'ConnectionSettingsError';
}

function envFlag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new ConnectionSettingsError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** Flags first, then the environment, then the defaults (a local cluster, namespace `default`). */
export function resolveTemporalTarget(
  flags: ConnectionFlagValues,
  env: NodeJS.ProcessEnv = process.env,
  defaults: { address?: string } = {},
): TemporalTarget {
  const pick = (flag: string | undefined, name: string) => flag ?? (env[name] || undefined);
  const files = {
    tlsCertPath: pick(flags['tls-cert-path'], ENV.tlsCertPath),
    tlsKeyPath: pick(flags['tls-key-path'], ENV.tlsKeyPath),
    tlsCaPath: pick(flags['tls-ca-path'], ENV.tlsCaPath),
    tlsServerName: pick(flags['tls-server-name'], ENV.tlsServerName),
  };
  const apiKey = pick(flags['api-key'], ENV.apiKey);
  const asked = flags.tls ?? envFlag(env[ENV.tls], ENV.tls);
  const implied = apiKey !== undefined || Object.values(files).some((value) => value !== undefined);
  const candidate = {
    address: pick(flags.address, ENV.address) ?? defaults.address ?? DEFAULT_ADDRESS,
    namespace: pick(flags.namespace, ENV.namespace) ?? 'default',
    apiKey,
    tls: asked ?? implied,
    ...files,
  };
  const parsed = TemporalTargetSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new ConnectionSettingsError(
      `Temporal connection: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'settings'} ${i.message}`).join('; ')}`,
    );
  }
  if (parsed.data.tls === false && implied)
    throw new ConnectionSettingsError('Temporal connection: an API key or TLS files need TLS, but TLS is turned off');
  return parsed.data;
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new ConnectionSettingsError(`cannot read the ${what} ${file}: ${(error as Error).message}`);
  }
}

/** A cluster tessera started itself on loopback (the embedded run's, a test's): plain, namespace `default`. */
export function localTarget(address: string): TemporalTarget {
  return { address, namespace: 'default', tls: false };
}

/** TLS as both the client's and the worker's connection take it. */
export function tlsConfig(target: TemporalTarget): TLSConfig | false {
  if (!target.tls) return false;
  return {
    serverNameOverride: target.tlsServerName,
    serverRootCACertificate: target.tlsCaPath ? readPem(target.tlsCaPath, 'CA certificate') : undefined,
    clientCertPair:
      target.tlsCertPath && target.tlsKeyPath
        ? { crt: readPem(target.tlsCertPath, 'client certificate'), key: readPem(target.tlsKeyPath, 'client key') }
        : undefined,
  };
}

/** Options for `Connection.connect` (client) and `NativeConnection.connect` (worker) alike. */
export function connectionOptions(target: TemporalTarget): {
  address: string;
  tls: TLSConfig | false;
  apiKey?: string;
} {
  return { address: target.address, tls: tlsConfig(target), ...(target.apiKey ? { apiKey: target.apiKey } : {}) };
}

/** Where a failure to connect should send the user. */
export function describeTarget(target: TemporalTarget): string {
  return `${target.address} (namespace ${target.namespace}${target.tls ? ', TLS' : ''}${target.apiKey ? ', API key' : ''}; --address or ${ENV.address})`;
}
