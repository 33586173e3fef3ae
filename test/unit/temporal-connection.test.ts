import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConnectionSettingsError, connectionOptions, resolveTemporalTarget } from '../../lib/temporal/connection.ts';
import {
  decodeThreadsFromEnvironment,
  parseWorkerOptions,
  runtimeOptionsFromEnvironment,
} from '../../cli/worker-options.ts';
import { UsageError } from '../../cli/run-options.ts';
import { tempDir } from '../support/environment.ts';

test('flags win over the environment, which wins over the defaults', () => {
  assert.deepEqual(resolveTemporalTarget({}, {}), {
    address: '127.0.0.1:7233',
    namespace: 'default',
    apiKey: undefined,
    tls: false,
    tlsCertPath: undefined,
    tlsKeyPath: undefined,
    tlsCaPath: undefined,
    tlsServerName: undefined,
  });
  const env = { TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_NAMESPACE: 'vision' };
  assert.equal(resolveTemporalTarget({}, env).namespace, 'vision');
  assert.equal(resolveTemporalTarget({}, env).address, 'temporal.example:7233');
  assert.equal(resolveTemporalTarget({ address: '10.0.0.5:7233', namespace: 'other' }, env).namespace, 'other');
  assert.equal(resolveTemporalTarget({ address: '10.0.0.5:7233' }, env).address, '10.0.0.5:7233');
});

test('an API key or a TLS file turns TLS on; turning it off with them is refused', () => {
  assert.equal(resolveTemporalTarget({}, { TEMPORAL_API_KEY: 'k' }).tls, true);
  assert.equal(resolveTemporalTarget({ 'tls-ca-path': '/ca.pem' }, {}).tls, true);
  assert.equal(resolveTemporalTarget({}, { TEMPORAL_TLS: 'true' }).tls, true);
  assert.throws(() => resolveTemporalTarget({ tls: false, 'api-key': 'k' }, {}), /need TLS, but TLS is turned off/);
  assert.throws(() => resolveTemporalTarget({}, { TEMPORAL_TLS: 'maybe' }), /TEMPORAL_TLS must be true or false/);
});

test('bad settings name what is wrong: HOST:PORT, a certificate without its key', () => {
  assert.throws(
    () => resolveTemporalTarget({ address: 'temporal.example' }, {}),
    (error: Error) => error instanceof ConnectionSettingsError && /address must be HOST:PORT/.test(error.message),
  );
  assert.throws(() => resolveTemporalTarget({ 'tls-cert-path': '/c.pem' }, {}), /a client certificate needs its key/);
  assert.equal(resolveTemporalTarget({ address: '[::1]:7233' }, {}).address, '[::1]:7233');
});

test('mTLS files are read into the connection options; a missing file is named', () => {
  const dir = tempDir('tls');
  for (const name of ['ca.pem', 'client.pem', 'client.key'])
    fs.writeFileSync(path.join(dir, name), `-----${name}-----`);
  const target = resolveTemporalTarget(
    {
      'tls-ca-path': path.join(dir, 'ca.pem'),
      'tls-cert-path': path.join(dir, 'client.pem'),
      'tls-key-path': path.join(dir, 'client.key'),
      'tls-server-name': 'temporal.internal',
    },
    {},
  );
  const options = connectionOptions(target);
  assert.ok(options.tls);
  assert.equal(options.tls.serverNameOverride, 'temporal.internal');
  assert.equal(Buffer.from(options.tls.clientCertPair!.key).toString(), '-----client.key-----');
  assert.equal(Buffer.from(options.tls.serverRootCACertificate!).toString(), '-----ca.pem-----');
  assert.equal(connectionOptions(resolveTemporalTarget({}, {})).tls, false);
  assert.throws(
    () => connectionOptions(resolveTemporalTarget({ 'tls-ca-path': path.join(dir, 'absent.pem') }, {})),
    /cannot read the CA certificate .*absent\.pem/,
  );
});

test('worker options are checked before connecting, each error naming its flag or variable', () => {
  const dir = tempDir('worker-options');
  const options = parseWorkerOptions(
    { 'allow-root': [dir], queues: 'inference', 'micro-batch': '4' },
    { TESSERA_LOG_FORMAT: 'json', TEMPORAL_NAMESPACE: 'vision' },
  );
  assert.deepEqual(options.queues, ['inference']);
  assert.equal(options.microBatch, 4);
  assert.equal(options.logFormat, 'json');
  assert.equal(options.target.namespace, 'vision', 'the worker honours TEMPORAL_NAMESPACE like every command');
  const refused = (flags: Parameters<typeof parseWorkerOptions>[0], env: NodeJS.ProcessEnv, pattern: RegExp) =>
    assert.throws(
      () => parseWorkerOptions({ 'allow-root': [dir], ...flags }, env),
      (error: Error) => error instanceof UsageError && pattern.test(error.message),
    );
  refused({ queues: 'cpu,gpu' }, {}, /--queues/);
  refused({ 'inference-concurrency': '0' }, {}, /--inference-concurrency/);
  refused({}, { TESSERA_INFERENCE_CONCURRENCY: 'two' }, /--inference-concurrency or TESSERA_INFERENCE_CONCURRENCY/);
  refused({}, { TESSERA_LOG_FORMAT: 'xml' }, /--log-format or TESSERA_LOG_FORMAT/);
  refused({ 'metrics-address': '9464' }, {}, /--metrics-address or TESSERA_METRICS_ADDRESS: must be HOST:PORT/);
  refused({ address: 'nohost' }, {}, /address must be HOST:PORT/);
  refused({ 'decode-threads': '0' }, {}, /--decode-threads or TESSERA_DECODE_THREADS/);
  refused({}, { TESSERA_DECODE_THREADS: 'many' }, /--decode-threads or TESSERA_DECODE_THREADS/);
  assert.equal(parseWorkerOptions({ 'allow-root': [dir] }, { TESSERA_DECODE_THREADS: '3' }).decodeThreads, 3);
  assert.equal(
    parseWorkerOptions({ 'allow-root': [dir], 'decode-threads': '5' }, { TESSERA_DECODE_THREADS: '3' }).decodeThreads,
    5,
    'the flag wins',
  );
  assert.equal(parseWorkerOptions({ 'allow-root': [dir] }, {}).decodeThreads, undefined, 'the default: half the cores');
  assert.equal(
    parseWorkerOptions({ 'allow-root': [dir] }, { TESSERA_INFERENCE_CONCURRENCY: '2' }).inferenceConcurrency,
    2,
  );
  assert.equal(
    parseWorkerOptions({ 'allow-root': [dir] }, { TESSERA_INFERENCE_CONCURRENCY: '' }).inferenceConcurrency,
    undefined,
    "empty (compose's default): the next shard in the tail",
  );
});

test('the embedded run takes its decode threads from TESSERA_DECODE_THREADS, naming it when wrong', () => {
  assert.equal(decodeThreadsFromEnvironment({ TESSERA_DECODE_THREADS: '6' }), 6);
  assert.equal(decodeThreadsFromEnvironment({}), undefined);
  assert.throws(
    () => decodeThreadsFromEnvironment({ TESSERA_DECODE_THREADS: '-1' }),
    (error: Error) => error instanceof UsageError && /^TESSERA_DECODE_THREADS: /.test(error.message),
  );
});

test('the embedded run checks its logging variables the same way, naming the variable', () => {
  const fromEnv = runtimeOptionsFromEnvironment({ TESSERA_LOG_LEVEL: 'debug', TESSERA_LOG_FORMAT: 'json' });
  assert.deepEqual([fromEnv.format, fromEnv.level, fromEnv.metricsAddress], ['json', 'DEBUG', undefined]);
  assert.equal(
    runtimeOptionsFromEnvironment({ TESSERA_METRICS_ADDRESS: '0.0.0.0:9464' }).metricsAddress,
    '0.0.0.0:9464',
  );
  assert.throws(
    () => runtimeOptionsFromEnvironment({ TESSERA_LOG_LEVEL: 'loud' }),
    (error: Error) => error instanceof UsageError && /^TESSERA_LOG_LEVEL: /.test(error.message),
  );
  assert.throws(
    () => runtimeOptionsFromEnvironment({ TESSERA_METRICS_ADDRESS: '9464' }),
    /TESSERA_METRICS_ADDRESS: must be HOST:PORT/,
  );
});
