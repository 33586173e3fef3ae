/**
 * The feed benchmark's S3 variant (issue "Data where it lives"): the null model's pipeline with its
 * images in a real S3-compatible server on loopback (moto, as the tests run it), against a plain
 * concurrent GetObject loop over the same objects, and against the same files on local disk.
 *
 *   npm run bench:feed-s3 -- [--data DIR] [--images 2000] [--runs 3]
 *
 * The dataset is `--data`'s photos, and copies of them under other keys (copy1_<id>, …) where
 * `--images` asks for more; it goes up to the server once, outside every timing. Then, in two phases:
 *
 *   direct     each run: the GetObject loop (SDK defaults, and tessera's own client), a tessera run
 *              from S3 and one from the local copy (fresh outputs; images/s over the workflow's
 *              time without split, as bench/feed.ts measures it, the command's whole wall time, and
 *              CPU per image of this process and of the S3 server), then the S3 run again (no-op)
 *   proxied    each run, through test/support/fault-proxy.ts (which counts requests and response
 *              bytes, and adds a hop, so no throughput is taken here): a first run, the same run
 *              again (no-op: the workflow's, and the embedded command's finished-run check that
 *              answers before it), and one after 5 % of the objects changed (incremental)
 *
 * Prints a table of medians; raw figures go to bench/results/feed-s3-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { submitRun } from '../cli/submit-run.ts';
import { mapLimited } from '../lib/core/map-limited.ts';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { parseRunConfig, type RunConfig } from '../lib/core/run-config.ts';
import { startDevServer } from '../lib/dev/dev-server.ts';
import { runLayout } from '../lib/run-folder/layout.ts';
import { finishedRun } from '../lib/run/finished-run.ts';
import { FETCHES_PER_BATCH } from '../lib/extract/s3-images.ts';
import { s3ClientFromEnvironment } from '../lib/storage/s3-client.ts';
import { localTarget, type TemporalTarget } from '../lib/temporal/connection.ts';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy.ts';
import { startS3Server, type S3Server } from '../test/support/s3-server.ts';
import { createWorkers } from '../workers/create-workers.ts';
import { writeNullModel } from './feed/null-model.ts';
import { median, printMedians, processCpuSeconds, writeResults } from './measure.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: path.resolve(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256') },
    images: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
  },
});
const runs = Number(values.runs);
const BUCKET = 'tessera-bench';
const PREFIX = 'datasets/photos';
const S3_DATA = `s3://${BUCKET}/${PREFIX}`;
/** Objects changed before the incremental run: every 20th (5 %). */
const CHANGE_EVERY = 20;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-feed-s3-'));
const figures: Record<string, number[]> = {};
const record = (name: string, value: number) => (figures[name] ??= []).push(value);

/** `--data`'s photos, and byte-for-byte copies under other ids up to `images`, as a local dataset folder. */
function localDataset(images: number): { dir: string; ids: string[] } {
  const [header, ...rows] = fs.readFileSync(path.join(values.data, 'train.csv'), 'utf8').trim().split('\n');
  const dir = path.join(work, 'data');
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  const lines = Array.from({ length: images }, (_, k) => {
    const [id, ...rest] = rows[k % rows.length]!.split(',');
    const copy = Math.floor(k / rows.length);
    const newId = copy === 0 ? id! : `copy${copy}_${id}`;
    fs.copyFileSync(path.join(values.data, 'images', id!), path.join(dir, 'images', newId));
    return [newId, ...rest].join(',');
  });
  fs.writeFileSync(path.join(dir, 'train.csv'), [header, ...lines, ''].join('\n'));
  return { dir, ids: lines.map((line) => line.split(',')[0]!) };
}

const put = (client: S3Client, key: string, body: Uint8Array) =>
  client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${key}`, Body: body }));

/** Every image key GET, `concurrency` at a time, each body read whole (as tessera reads one): seconds. */
async function getLoop(client: S3Client, ids: string[], concurrency: number): Promise<number> {
  const started = performance.now();
  await mapLimited(ids, concurrency, async (id) => {
    const answer = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/images/${id}` }));
    await answer.Body!.transformToByteArray();
  });
  return (performance.now() - started) / 1000;
}

/** The null model's run config for `data` into `out` (its one output; everything else the defaults). */
function runConfig(model: string, data: string, out: string): RunConfig {
  const parsed = parseRunConfig({ data, out, model, output: 0 });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
}

/** A `tessera run` through the in-process workers: images, workflow seconds without split, wall seconds. */
async function tesseraRun(target: TemporalTarget, config: RunConfig) {
  const { summary, seconds } = await submitRun(config, { target, quiet: true });
  const { timings, counts } = summary!;
  return { images: counts.trainingImages, workflow: timings.total - timings.split, wall: seconds };
}

/** Requests by kind (a GET of the bucket itself is a LIST) and GET response bytes, from the proxy's counts. */
function requestsSince(proxy: FaultProxy, seen: number, bytesBefore: number) {
  const kinds: Record<string, number> = {};
  const imagesGot = new Set<string>();
  for (const line of proxy.log.slice(seen)) {
    const [method, where] = line.split(' ') as [string, string];
    const kind = method === 'GET' && !where.slice(1).includes('/') ? 'LIST' : method;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (method === 'GET' && where.includes('/images/')) imagesGot.add(where);
  }
  return { kinds, distinctImages: imagesGot.size, getBytes: (proxy.responseBytes.GET ?? 0) - bytesBefore };
}

interface Bench {
  server: S3Server;
  target: TemporalTarget;
  model: string;
  local: string;
  ids: string[];
}

/** With workers whose S3 client reads `env`: `body`, then the workers stop. */
async function withWorkers(bench: Bench, env: Record<string, string>, body: () => Promise<void>): Promise<void> {
  // The workers' client (one per process's activities) and the run's own preflight read the environment.
  Object.assign(process.env, env);
  const workers = await createWorkers({
    target: bench.target,
    queues: ['cpu', 'inference'],
    allowRoots: [work, `s3://${BUCKET}/datasets`],
    // As the embedded run keeps them: the re-runs' expected warnings (finished shards are removed) stay off the table.
    runtime: { logFile: path.join(work, 'workers.log') },
  });
  const running = workers.run();
  try {
    await body();
  } finally {
    workers.shutdown();
    await running;
  }
}

/** Busy and total CPU time of the whole machine so far (every process: other work's too), in clock ticks. */
function machineTicks(): { busy: number; total: number } {
  const ticks = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total }; // idle, iowait
}

/** `body`'s result, with the CPU ms it cost this process (workers included) and the S3 server. */
async function withCpu<T>(server: S3Server, body: () => Promise<T>) {
  const [own, served, machine] = [process.cpuUsage(), processCpuSeconds(server.pid), machineTicks()];
  const value = await body();
  const used = process.cpuUsage(own);
  const after = machineTicks();
  return {
    value,
    ownMs: (used.user + used.system) / 1000,
    serverMs: (processCpuSeconds(server.pid) - served) * 1000,
    machineBusy: (after.busy - machine.busy) / (after.total - machine.total),
  };
}

type Cpu = Awaited<ReturnType<typeof withCpu>>;
function recordCpu(name: string, images: number, { ownMs, serverMs, machineBusy }: Cpu, fromS3 = true): void {
  record(`${name}: CPU ms/image, this process`, ownMs / images);
  if (fromS3) record(`${name}: CPU ms/image, the S3 server`, serverMs / images);
  record(`${name}: machine busy % (all processes)`, 100 * machineBusy);
}

/** One run of the direct phase: the two GetObject loops, tessera from S3 (and again: no-op), from local disk. */
async function directRun(bench: Bench, run: number): Promise<void> {
  const ownClient = s3ClientFromEnvironment(bench.server.env);
  for (const [name, client] of [
    ['GetObject loop, SDK defaults', bench.server.client],
    ["GetObject loop, tessera's S3 client", ownClient],
  ] as const) {
    const loop = await withCpu(bench.server, () => getLoop(client, bench.ids, FETCHES_PER_BATCH));
    record(`${name}: images/s`, bench.ids.length / loop.value);
    recordCpu(name, bench.ids.length, loop);
  }
  ownClient.destroy();
  for (const [where, data] of [
    ['S3', S3_DATA],
    ['local', bench.local],
  ] as const) {
    const config = runConfig(bench.model, data, path.join(work, `out-${where}-${run}`));
    const measured = await withCpu(bench.server, () => tesseraRun(bench.target, config));
    const { images, workflow, wall } = measured.value;
    record(`tessera from ${where}: images/s (workflow, split excluded)`, images / workflow);
    record(`tessera from ${where}: wall s (${images} images)`, wall);
    recordCpu(`tessera from ${where}`, images, measured, where === 'S3');
    if (where === 'S3')
      record('tessera from S3, no-op re-run (workflow): wall s', (await tesseraRun(bench.target, config)).wall);
    fs.rmSync(config.out, { recursive: true, force: true });
  }
}

/**
 * One run of the proxied phase: first run, no-op re-run (the workflow's, and the embedded command's
 * finished-run check that precedes it), incremental run; requests and bytes per image.
 */
async function proxiedRun(bench: Bench, proxy: FaultProxy, run: number): Promise<void> {
  const config = runConfig(bench.model, S3_DATA, path.join(work, `out-proxied-${run}`));
  let images = 0;
  const counted = async (name: string, body: () => Promise<void>) => {
    const [seen, bytes, started] = [proxy.log.length, proxy.responseBytes.GET ?? 0, performance.now()];
    await body();
    const { kinds, distinctImages, getBytes } = requestsSince(proxy, seen, bytes);
    for (const [kind, count] of Object.entries(kinds)) record(`${name}: ${kind} requests/image`, count / images);
    // Fewer than the image GETs: some image was downloaded more than once.
    record(`${name}: distinct images downloaded/image`, distinctImages / images);
    record(`${name}: GET KB/image`, getBytes / 1024 / images);
    record(`${name}: wall s (through the proxy)`, (performance.now() - started) / 1000);
  };
  const workflow = async () => void ({ images } = await tesseraRun(bench.target, config));
  await counted('first run', workflow);
  await counted('no-op re-run, the workflow', workflow);
  await counted("no-op re-run, the embedded command's finished-run check", async () => {
    if (!(await finishedRun(config, runLayout(config))).finished) throw new Error(`${config.out} is not finished`);
  });
  // 5 % of the objects get new bytes (mirrored and re-encoded), straight to the server.
  const changed = bench.ids.filter((_, k) => k % CHANGE_EVERY === CHANGE_EVERY - 1);
  const originals = new Map(changed.map((id) => [id, fs.readFileSync(path.join(bench.local, 'images', id))]));
  const mirrored = (id: string) => sharp(originals.get(id)).flop().jpeg({ quality: 90 }).toBuffer();
  await mapLimited(changed, 8, async (id) => put(bench.server.client, `images/${id}`, await mirrored(id)));
  await counted(`incremental (${changed.length} objects changed)`, workflow);
  await mapLimited(changed, 8, (id) => put(bench.server.client, `images/${id}`, originals.get(id)!));
  fs.rmSync(config.out, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const model = await writeNullModel(path.join(work, 'null-level4.onnx'));
  const { dir: local, ids } = localDataset(Number(values.images));
  const server = await startS3Server();
  const proxy = await startFaultProxy(server.endpoint);
  const temporal = await startDevServer({ dbFile: path.join(work, 'temporal', 'state.db') });
  const bench: Bench = { server, target: localTarget(temporal.address), model, local, ids };
  try {
    await server.createBucket(BUCKET);
    await put(server.client, 'train.csv', fs.readFileSync(path.join(local, 'train.csv')));
    await mapLimited(ids, 16, (id) =>
      put(server.client, `images/${id}`, fs.readFileSync(path.join(local, 'images', id))),
    );
    await withWorkers(bench, server.env, async () => {
      for (let run = 1; run <= runs; run++) {
        process.stderr.write(`direct run ${run}/${runs}\n`);
        await directRun(bench, run);
      }
    });
    await withWorkers(bench, { ...server.env, AWS_ENDPOINT_URL_S3: proxy.endpoint }, async () => {
      for (let run = 1; run <= runs; run++) {
        process.stderr.write(`proxied run ${run}/${runs}\n`);
        await proxiedRun(bench, proxy, run);
      }
    });
  } finally {
    await temporal.stop();
    await proxy.stop();
    await server.stop();
  }
  report(loadBefore);
  fs.rmSync(work, { recursive: true, force: true });
}

function report(loadBefore: number[]): void {
  const m = (name: string) => median(figures[name] ?? [Number.NaN]);
  const s3 = m('tessera from S3: images/s (workflow, split excluded)');
  const cpuPerImage = (name: string) =>
    m(`${name}: CPU ms/image, this process`) + m(`${name}: CPU ms/image, the S3 server`);
  const wall = (where: string) =>
    m(Object.keys(figures).find((name) => name.startsWith(`tessera from ${where}: wall`))!);
  const ratios = {
    "tessera from S3 / GetObject loop (tessera's client), images/s":
      s3 / m("GetObject loop, tessera's S3 client: images/s"),
    'tessera from S3 / GetObject loop (SDK defaults), images/s': s3 / m('GetObject loop, SDK defaults: images/s'),
    'tessera from S3 / tessera from local, images/s': s3 / m('tessera from local: images/s (workflow, split excluded)'),
    'tessera from S3 / tessera from local, wall time': wall('S3') / wall('local'),
    // With every core busy (the server on this machine too), images/s go as the inverse of the CPU
    // each image costs, this process's and the server's: the ratio to expect when the CPU is the limit.
    "CPU/image, GetObject loop (tessera's client) / tessera from S3":
      cpuPerImage("GetObject loop, tessera's S3 client") / cpuPerImage('tessera from S3'),
  };
  const load = { before: loadBefore, after: os.loadavg() };
  const cores = os.availableParallelism();
  printMedians(
    `tessera feed bench, S3 (moto on loopback): ${values.images} images (${values.data}; copies beyond its own), ` +
      `null model, ${FETCHES_PER_BATCH} GETs in flight, ${runs} runs, ${cores} cores, ` +
      `load average ${load.before.map((v) => v.toFixed(1)).join(' ')} → ${load.after.map((v) => v.toFixed(1)).join(' ')}`,
    figures,
    ratios,
  );
  writeResults('feed-s3', { data: values.data, images: Number(values.images), runs, cores, load, figures, ratios });
}

await main();
