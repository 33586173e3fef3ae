/**
 * A dataset in object storage (`data: s3://…`), read from a real S3-compatible server on loopback
 * (moto) through a proxy that logs every request: the output is the one a local run of the same
 * files gives, a re-run asks the store for tags (HEAD) instead of downloading the images again, a
 * changed object re-extracts its shard only, and what is wrong with a dataset prefix is said by name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { InputError } from '../../lib/core/errors.ts';
import { DEFAULT_MODEL } from '../../lib/core/project-paths.ts';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { openImageSource, readImage } from '../../lib/extract/image-source.ts';
import { preflight } from '../../lib/run/preflight.ts';
import { Stores } from '../../lib/storage/open-store.ts';
import { s3ClientFromEnvironment } from '../../lib/storage/s3-client.ts';
import type { RunSummary } from '../../lib/core/run-summary.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { TASK_QUEUES, WORKFLOW_TYPE } from '../../lib/temporal/task-queues.ts';
import { readConfigText } from '../../cli/run-options.ts';
import type { ExtractVectorsWorkflow } from '../../cli/workflow-types.ts';
import { requireSetup, startTemporal, tempDir, type TemporalHarness } from '../support/environment.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { assertSameOutput } from '../support/outputs.ts';
import { startS3Server, type S3Server } from '../support/s3-server.ts';

const BUCKET = 'tessera-data';
const PREFIX = `s3://${BUCKET}/datasets/rooms`;
const SHARD_SIZE = 8;
let dir: string;
let data: string;
let server: S3Server;
let proxy: FaultProxy;
let temporal: TemporalHarness;
let localOut: string;
let s3Out: string;
let firstS3Run: { summary: RunSummary; requests: string[] };
let faultsLeft: number;

/** A failure's message with those of its causes (the workflow's, the activity's, the input error's). */
const causes = (error: unknown): string => (error instanceof Error ? `${error.message} ← ${causes(error.cause)}` : '');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function upload(file: string, key: string): Promise<void> {
  await server.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: fs.readFileSync(file) }));
}

let runs = 0;
/** Runs the workflow over `dataset` into `out`; returns its summary and the store requests it made. */
async function run(
  dataset: string,
  out: string,
  model = DEFAULT_MODEL,
): Promise<{ summary: RunSummary; requests: string[] }> {
  const seen = proxy.log.length;
  const summary = await temporal.client.workflow.execute<ExtractVectorsWorkflow>(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUES.cpu,
    workflowId: `s3-data-${path.basename(dir)}-${runs++}`,
    args: [{ data: dataset, out, model, shardSize: SHARD_SIZE, batchSize: 4, splits: ['train', 'val'] }],
  });
  return { summary, requests: proxy.log.slice(seen) };
}

const imageGets = (requests: string[]) =>
  requests.filter((line) => line.startsWith(`GET /${BUCKET}/datasets/rooms/images/`));
/** The two inputs that never become vectors: each run tries them again, as it does with local files. */
const FAILING = ['img_00004.jpg', 'missing.jpg'];
const healthyImageGets = (requests: string[]) =>
  imageGets(requests).filter((line) => !FAILING.some((name) => line.endsWith(`/${name}`)));

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('s3-data');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: 30, classes: 3 });
  // What cannot become vectors, as in a local dataset: a text file named .jpg, a row whose image is missing.
  fs.writeFileSync(path.join(data, 'images', 'img_00004.jpg'), 'this is not a JPEG');
  fs.appendFileSync(path.join(data, 'train.csv'), 'missing.jpg,1001\n');

  server = await startS3Server();
  proxy = await startFaultProxy(server.endpoint);
  // The workers run in this process: their S3 client reads the environment, as a user's would.
  Object.assign(process.env, server.env, { AWS_ENDPOINT_URL_S3: proxy.endpoint });
  await server.createBucket(BUCKET);
  await upload(path.join(data, 'train.csv'), 'datasets/rooms/train.csv');
  for (const name of fs.readdirSync(path.join(data, 'images')))
    await upload(path.join(data, 'images', name), `datasets/rooms/images/${name}`);

  await upload(DEFAULT_MODEL, 'models/default.onnx');
  temporal = await startTemporal(dir, [dir, `s3://${BUCKET}/datasets`, `s3://${BUCKET}/models`]);
  localOut = path.join(dir, 'out-local');
  s3Out = path.join(dir, 'out-s3');
  await run(data, localOut);
  // The network a real store has, during the S3 run: throttling and connections cut mid-object.
  const imageGet = (request: { method?: string; url?: string }) =>
    request.method === 'GET' && (request.url ?? '').includes('/images/img_');
  proxy.inject([{ kind: 'slow-down' }, { kind: 'reset-mid-body' }, { kind: 'slow-down' }], imageGet);
  proxy.inject([{ kind: 'reset-mid-body' }, { kind: 'slow-down' }], imageGet);
  firstS3Run = await run(PREFIX, s3Out);
  faultsLeft = proxy.pending;
});

after(async () => {
  await temporal?.stop();
  await proxy?.stop();
  await server?.stop();
});

test('a dataset under an s3:// prefix gives the output a local folder of the same files gives, through throttling and cut connections', async () => {
  const { summary, requests } = firstS3Run;
  assert.equal(faultsLeft, 0, 'every injected fault met a request');
  assert.equal(summary.counts.errors, 2, 'the text file named .jpg and the missing image');
  await assertSameOutput(s3Out, localOut, {
    vectorFiles: ['vectors.parquet', 'validation-vectors.parquet'],
    sameFiles: true,
    normalise: (text) =>
      text.replaceAll(`${PREFIX}/images`, '<images>').replaceAll(path.join(data, 'images'), '<images>'),
  });
  assert.match(
    fs.readFileSync(path.join(s3Out, 'errors.csv'), 'utf8'),
    /image file s3:\/\/tessera-data\/datasets\/rooms\/images\/missing\.jpg does not exist/,
  );
  // Every image fetched once, and again where the proxy refused or cut it (5 faults), none from another prefix.
  assert.equal(imageGets(requests).length, 31 + 5, requests.filter((line) => line.startsWith('GET')).join('\n'));
  const lineageOf = (out: string) => fs.readFileSync(path.join(out, 'lineage.csv'), 'utf8').trimEnd().split('\n');
  const [localLineage, s3Lineage] = [lineageOf(localOut), lineageOf(s3Out)];
  assert.equal(s3Lineage[0], 'split,shard,ordinal,image_id,target,sha256,etag');
  assert.deepEqual(
    s3Lineage.map((line) => line.split(',').slice(0, 6).join(',')),
    localLineage,
    'the same images, hashed to the same sha256',
  );
});

test('a re-run asks the store for tags and downloads no image that became vectors', async () => {
  const again = await run(PREFIX, s3Out);
  assert.equal(again.summary.counts.extractedImages, firstS3Run.summary.counts.extractedImages);
  assert.deepEqual(healthyImageGets(again.requests), [], `no image GET on a re-run: ${again.requests.join(', ')}`);
  // One HEAD per image hashed before (all but the missing one): its shard file is gone (not kept), so its
  // lineage is not asked as well. The one that did not decode is downloaded again, to be tried again.
  const heads = again.requests.filter((line) => line.startsWith(`HEAD /${BUCKET}/datasets/rooms/images/`));
  assert.equal(heads.length, 31 - 1);
});

test("a changed object re-extracts its shard only, and the lineage has the new bytes' sha256", async () => {
  const training = fs.readFileSync(path.join(s3Out, 'training.csv'), 'utf8').trimEnd().split('\n');
  const imageId = training[1]!.split(',')[1]!; // the first training image: shard 0
  const replacement = fs.readFileSync(path.join(data, 'images', training[12]!.split(',')[1]!));
  await server.client.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: `datasets/rooms/images/${imageId}`, Body: replacement }),
  );
  const changed = await run(PREFIX, s3Out);
  const gets = healthyImageGets(changed.requests);
  // Its shard's other images are asked by ETag (HEAD) and copied from the previous output; the changed one is
  // downloaded once, hashed, and decoded from those same bytes.
  assert.deepEqual(gets, [`GET /${BUCKET}/datasets/rooms/images/${imageId}`]);
  const lineage = fs.readFileSync(path.join(s3Out, 'lineage.csv'), 'utf8');
  assert.ok(lineage.includes(`,${imageId},`) && lineage.includes(sha256(replacement)));
});

test('a dataset prefix without its CSV, or outside the prefixes the worker serves, is refused by name', async () => {
  await assert.rejects(run(`s3://${BUCKET}/datasets/empty`, path.join(dir, 'out-empty')), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(causes(error), /input CSV s3:\/\/tessera-data\/datasets\/empty\/train\.csv does not exist/);
    return true;
  });
  await assert.rejects(run(`s3://${BUCKET}/elsewhere`, path.join(dir, 'out-elsewhere')), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(causes(error), /data s3:\/\/tessera-data\/elsewhere is outside the prefixes this worker may use/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dir, 'out-elsewhere')), false, 'nothing written for a refused run');
});

test('no credentials, a missing bucket, an unreachable endpoint: one line naming the URI, within seconds, nothing written', async () => {
  const out = path.join(dir, 'out-refused');
  const refusal = async (dataset: string, env: NodeJS.ProcessEnv): Promise<string> => {
    const parsed = parseRunConfig({ data: dataset, out, model: DEFAULT_MODEL });
    assert.ok(parsed.ok);
    const stores = new Stores(() => s3ClientFromEnvironment(env));
    try {
      await preflight(parsed.config, undefined, {}, stores);
    } catch (error) {
      assert.ok(error instanceof InputError, `an input error (the run ends at once), not ${String(error)}`);
      return error.message;
    } finally {
      stores.close();
    }
    return assert.fail('preflight accepted it');
  };
  assert.match(
    await refusal(`s3://no-such-bucket-here/rooms`, process.env),
    /^s3:\/\/no-such-bucket-here\/rooms\/train\.csv: the bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/,
  );
  const started = performance.now();
  assert.match(
    await refusal(PREFIX, { ...process.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }),
    /^s3:\/\/tessera-data\/datasets\/rooms\/train\.csv: cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)$/,
  );
  assert.ok(performance.now() - started < 20_000, 'said within seconds');
  // The SDK's credential chain reads the process's environment itself: none there, no profile file, no instance role.
  const saved = { ...process.env };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete process.env[name];
  Object.assign(process.env, {
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
    AWS_CONFIG_FILE: path.join(dir, 'none'),
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  try {
    const message = await refusal(PREFIX, process.env);
    assert.match(message, /^s3:\/\/tessera-data\/datasets\/rooms\/train\.csv: no AWS credentials found/);
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
  assert.equal(fs.existsSync(out), false, 'nothing written for a refused dataset');
});

test("an image is read for showing (tessera serve's matches) from the prefix as from a folder", async () => {
  const stores = new Stores();
  try {
    const images = await openImageSource(`${PREFIX}/images`, [], stores);
    const name = 'img_00001.jpg';
    assert.deepEqual(Buffer.from(await readImage(images, name)), fs.readFileSync(path.join(data, 'images', name)));
    await assert.rejects(
      readImage(images, 'missing.jpg'),
      /image file s3:\/\/tessera-data\/datasets\/rooms\/images\/missing\.jpg does not exist/,
    );
    await assert.rejects(readImage(images, '../train.csv'), /points outside the image prefix/);
  } finally {
    stores.close();
  }
});

test('a model in object storage: copied once per worker, asked by ETag after, the same vectors as the file', async () => {
  const model = `s3://${BUCKET}/models/default.onnx`;
  const modelGets = (requests: string[]) => requests.filter((line) => line === `GET /${BUCKET}/models/default.onnx`);
  const out = path.join(dir, 'out-s3-model');
  const first = await run(PREFIX, out, model);
  // Each activity set of the worker (cpu, inference) keeps its own copy.
  assert.ok(modelGets(first.requests).length <= 2, modelGets(first.requests).join(', '));
  await assertSameOutput(out, s3Out, {
    vectorFiles: ['vectors.parquet', 'validation-vectors.parquet'],
    sameFiles: true,
  });
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.model.path, model);
  assert.equal(manifest.model.sha256, sha256(fs.readFileSync(DEFAULT_MODEL)));
  const again = await run(PREFIX, out, model);
  assert.deepEqual(modelGets(again.requests), [], 'no model download on a re-run');
  await assert.rejects(run(PREFIX, path.join(dir, 'out-other-model'), `s3://${BUCKET}/elsewhere/m.onnx`), (error) => {
    assert.match(
      causes(error),
      /model s3:\/\/tessera-data\/elsewhere\/m\.onnx is outside the prefixes this worker may use/,
    );
    return true;
  });
});

test('--config s3://…: the file is read from the bucket; a missing one is a usage error naming it', async () => {
  const key = 'configs/rooms.json';
  await server.client.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify({ data: '../datasets/rooms', seed: 7 }) }),
  );
  const text = await readConfigText(`s3://${BUCKET}/${key}`);
  assert.deepEqual(JSON.parse(text!), { data: '../datasets/rooms', seed: 7 });
  assert.equal(await readConfigText(path.join(dir, 'local.json')), undefined, 'a local file is read by buildRunConfig');
  await assert.rejects(
    readConfigText(`s3://${BUCKET}/configs/none.json`),
    /^UsageError: cannot read config file s3:\/\/tessera-data\/configs\/none\.json: no such object$/,
  );
});
