// tessera's help text and what finds a command or flag in it: no imports, so that `tessera --help`
// and a mistyped command answer before anything else is loaded (cli/usage.ts adds run's options).

/** tessera's help text: one owner for every command's usage. */
export const USAGE = `tessera: CNN tile vectors from an image dataset, as a durable Temporal workflow

  tessera run --data DIR --out DIR [--model FILE] [--config FILE] [options]
      Without --address: starts a local Temporal dev server (state under --out) and in-process
      workers, runs to the end with a progress bar. The same command after a crash resumes.
      Its log (the SDK's and the workers' messages) goes to OUT/.tessera/tessera.log;
      --verbose also shows it live. --quiet: no progress bar. Symlinks under --data are followed
      wherever they lead (an images folder on another disk, a subset folder of linked images).
      --address HOST:PORT   submit to an existing cluster and wait (--detach: do not wait);
                            --namespace, --api-key and --tls* as below
      Run options (also accepted in --config JSON, same names in camelCase):
      --csv --images --id-column --class-column --img-size --batch-size --val-samples --seed
      --output (level index or output name) --shard-size --parallel-shards
      --execution-provider cpu|cuda --normalize none|imagenet
      --splits train[,val]  val: also extract validation.csv, occluded, into validation-vectors.parquet
      --force               replace a different earlier run's outputs in --out (else refused)
  tessera status (--out DIR | --workflow-id ID) [--address HOST:PORT] [--json]
      Stage, shards, images, rows, errors, images/s and ETA of a running run (from its server);
      the result, the failure or where it stopped of one that no longer runs (from the folder's
      files, no server needed), and the command that resumes it. Exit 0 when it answered.
  tessera cancel (--out DIR | --workflow-id ID) [--address HOST:PORT] [--no-wait]
      Stops the run's activities at their next heartbeat; nothing half-written stays. The same
      run command later resumes from the finished shards.
  tessera schedule create|list|describe|trigger|pause|unpause|delete ...   (tessera schedule for help)
      Runs on a Temporal Schedule (--cron EXPR | --every DURATION), each into its own folder.
  tessera worker --allow-root DIR [--address HOST:PORT] [--queues cpu,inference]
      [--inference-concurrency N]  shards at once (or TESSERA_INFERENCE_CONCURRENCY; default one, the next taken in its tail)
      [--intra-op-threads N] [--micro-batch N]   (onnxruntime threads; images per run on the CPU, default 8)
      [--decode-threads N]  threads that read and decode images (or TESSERA_DECODE_THREADS; default half the cores)
      [--log-format text|json] [--log-level LEVEL] [--metrics-address HOST:PORT]   (Prometheus /metrics of the SDK)
      [--shutdown-grace DURATION]  on SIGTERM, running shards may finish for this long (default 5m),
                                   then they are cancelled and redone by another worker
      --allow-root DIR  required, repeatable (or TESSERA_ALLOW_ROOTS=DIR:DIR): a run's data, out and
                        model, and where links under data lead (csv, images, image files), must lie
                        under these folders (the model may also be in tessera's models/)
  Connecting to a cluster (run --address, status, cancel, schedule, worker), as the Temporal CLI:
      --address HOST:PORT (TEMPORAL_ADDRESS, else 127.0.0.1:7233)  --namespace NAME (TEMPORAL_NAMESPACE)
      --api-key KEY (TEMPORAL_API_KEY)  --tls (TEMPORAL_TLS)  --tls-cert-path FILE --tls-key-path FILE
      (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: mTLS)  --tls-ca-path FILE (TEMPORAL_TLS_CA)
      --tls-server-name NAME (TEMPORAL_TLS_SERVER_NAME). An API key or a TLS file turns TLS on.
  tessera dev [--port N] [--ui-port N] [--db FILE]
  tessera sample-data --out DIR [--images N] [--classes K] [--seed S]
  tessera report OUT [--html FILE] [--sample N]
      Writes OUT/report.html (or FILE) about a finished run, one self-contained page: counts,
      errors by reason, shards over time with images/s, images per class, and a PCA scatter and
      nearest-neighbour accuracy of up to N mean-pooled image vectors (default 2000), sampled
      from a bounded part of vectors.parquet. Prints the page's path.
  tessera index OUT [--metric cos|l2|ip] [--index-precision f32|f16|i8] [--connectivity N]
      [--expansion-add N] [--expansion-search N] [--threads N] [--json]
      Builds OUT/index/: an approximate-nearest-neighbour index (usearch HNSW) of every tile of
      vectors.parquet, key = i, and its record (the vectors' sha256, the settings). Defaults: cos,
      f16, connectivity 16, expansion 32 (add) / 160 (search). An index that is current is kept.
  tessera search OUT IMAGE... [--top N] [--neighbours K] [--json]
      Each image through the output's own model, input size, normalisation and layer; ranks
      classes and training images by the votes of each query tile's K nearest tiles (default 10),
      and prints the top N (default 5) with the tiles that matched (x, y, distance).
  tessera evaluate OUT [--queries DIR] [--neighbours K] [--recall-images N] [--recall-k K] [--json]
      Scores the index on the run's occluded validation images (a run with --splits train,val) or
      on another output's vectors (--queries): MAP@5, top-1, ANN recall@K against exact search on
      N query images (default 5 images, K 10). Writes OUT/evaluation.json.
  tessera serve OUT [--port N] [--host ADDR] [--max-bytes N] [--max-pixels N]
      A local web page and JSON API over the index: POST /search with an image, GET /health.
      Loopback by default (port 8765); one query at a time (503 when busy); uploads stay in memory.
  tessera COMMAND --help
      That command's usage; for run, every run option with its default.
`;

/** `tessera schedule`'s subcommands. */
export const SCHEDULE_USAGE = `tessera schedule create --id NAME (--cron EXPR | --every DURATION) --data DIR --out DIR [run options]
      [--catchup-window DURATION (default 1h)] [--paused] [--full] [--keep-runs N]
      --out may hold {scheduledTime} (e.g. /data/out/nightly-{scheduledTime}); without it each run
      writes to DIR/{scheduledTime}. Runs that would overlap a running one are skipped.
      Each run reuses the vectors of unchanged images from the newest finished run (--full: it
      extracts everything); --keep-runs N removes finished outputs beyond the newest N.
  tessera schedule list | describe --id NAME | trigger --id NAME | pause --id NAME [--note TEXT]
      | unpause --id NAME | delete --id NAME        (all take --address, --namespace)`;

/** The usage lines of one command (`tessera run …` up to the next command), or all of them. */
export function commandLines(command: string): string {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`  tessera ${command} `) || line === `  tessera ${command}`);
  if (start < 0) return USAGE;
  const end = lines.findIndex((line, k) => k > start && /^ {2}\S/.test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The known flag nearest to a mistyped one, if one is near enough to be what was meant. */
export function nearestFlag(given: string, known: readonly string[]): string | undefined {
  const name = given.replace(/^-+/, '').split('=')[0]!.toLowerCase();
  const scored = known
    .map((flag) => ({ flag, distance: editDistance(name, flag) }))
    .sort((x, y) => x.distance - y.distance);
  const best = scored[0];
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.flag : undefined;
}
