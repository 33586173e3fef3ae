// No Docker engine runs where tessera is developed, so infra/compose.yaml and infra/Dockerfile are
// never started here: these checks catch what would otherwise surface only on a deployment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  command?: string[] | string;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  stop_grace_period?: string;
  stop_signal?: string;
  deploy?: {
    replicas?: string | number;
    resources?: { reservations?: { devices?: { driver?: string; capabilities?: string[] }[] } };
  };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const INFRA = path.join(ROOT, 'infra');
// merge: compose resolves YAML merge keys (<<), which the file uses for what workers share.
const raw = parse(fs.readFileSync(path.join(INFRA, 'compose.yaml'), 'utf8'), { merge: true }) as ComposeFile;

/** Applies `edit` to every string of a parsed document, keys included, as compose interpolates. */
function mapStrings(node: unknown, edit: (text: string) => string): unknown {
  if (typeof node === 'string') return edit(node);
  if (Array.isArray(node)) return node.map((item) => mapStrings(item, edit));
  if (node && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [edit(key), mapStrings(value, edit)]));
  return node;
}

// The file as compose reads it with no variable set: ${VAR:-default} → default, $$ → $.
const compose = mapStrings(raw, (text) =>
  text.replace(/\$\$|\$\{\w+:?-([^}]*)\}/g, (match, fallback?: string) => (match === '$$' ? '$' : (fallback ?? ''))),
) as ComposeFile;
const { services } = compose;
const workers = Object.entries(services).filter(([, service]) => commandOf(service)[0] === 'worker');

function commandOf(service: Service): string[] {
  return typeof service.command === 'string' ? service.command.split(/\s+/) : (service.command ?? []);
}
function flag(service: Service, name: string): string | undefined {
  const command = commandOf(service);
  const at = command.indexOf(name);
  return at < 0 ? undefined : command[at + 1];
}
/** Short syntax `[ip:]host:container` → host (undefined: Docker picks one) and container port. */
function publishedPorts(service: Service): { host?: string; container: string }[] {
  return (service.ports ?? []).map((port) => {
    const parts = port.split(':');
    return { host: parts.at(-2), container: parts.at(-1)! };
  });
}

test('every variable has a default, so `docker compose config` needs no env file', () => {
  const interpolations: string[] = [];
  mapStrings(raw, (text) => {
    interpolations.push(...(text.match(/\$(\$|\{[^}]*\}|\w+)/g) ?? []));
    return text;
  });
  assert.ok(interpolations.length > 10, 'the file is configured through ${VAR:-default}');
  for (const found of interpolations.filter((text) => text !== '$$')) {
    assert.match(found, /^\$\{\w+:?-[^}]*\}$/, `${found} has no default (write $$ for a literal $)`);
  }
});

test('Temporal runs on PostgreSQL, after its schema is set up, with its UI on temporal:7233', () => {
  const { postgresql, temporal, 'temporal-ui': ui } = services;
  assert.ok(postgresql && temporal && ui);
  assert.match(postgresql.image ?? '', /^postgres:\d+/);
  assert.ok(
    postgresql.volumes?.some((volume) => volume.endsWith(':/var/lib/postgresql/data')),
    'database survives a restart',
  );
  assert.equal(temporal.depends_on?.postgresql?.condition, 'service_healthy');
  assert.equal(temporal.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
  assert.equal(temporal.environment?.DB, 'postgres12');
  assert.equal(temporal.environment?.POSTGRES_SEEDS, 'postgresql');
  assert.ok(publishedPorts(temporal).some((port) => port.container === '7233'));
  assert.equal(ui.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.ok(publishedPorts(ui).some((port) => port.container === '8080'));
  // Temporal's images come in matching versions: schema tool and server must agree.
  const serverVersion = temporal.image?.split(':')[1];
  assert.equal(services['temporal-schema']?.image, `temporalio/admin-tools:${serverVersion}`);
});

test('one CPU worker and N GPU inference workers poll their queues on temporal:7233', () => {
  const queues = (queue: string) =>
    workers.filter(([, worker]) => flag(worker, '--queues')?.split(',').includes(queue)).map(([name]) => name);
  assert.deepEqual(queues('cpu'), ['tessera-cpu-worker']);
  assert.deepEqual(
    queues('inference').slice(0, 1),
    ['tessera-inference-worker'],
    'more may follow: one service per GPU',
  );
  for (const [name, worker] of workers) {
    assert.equal(flag(worker, '--address'), 'temporal:7233', name);
    assert.equal(flag(worker, '--log-format'), 'json', name);
    assert.match(
      flag(worker, '--metrics-address') ?? '',
      /^0\.0\.0\.0:\d+$/,
      `${name}: metrics reachable from Prometheus`,
    );
    assert.ok(worker.depends_on?.['temporal-namespace'], `${name} starts once its namespace exists`);
    // `tessera worker` refuses to start without the folders it may serve: the shared volume.
    assert.equal(
      flag(worker, '--allow-root') ?? worker.environment?.TESSERA_ALLOW_ROOTS,
      '/data',
      `${name} serves /data only`,
    );
  }
  const cpu = services['tessera-cpu-worker']!;
  const inference = services['tessera-inference-worker']!;
  assert.equal(flag(cpu, '--queues'), 'cpu', 'extraction stays on the GPU workers');
  assert.equal(cpu.deploy?.replicas ?? 1, 1, 'one worker runs workflows and CPU activities');
  assert.equal(flag(inference, '--queues'), 'inference');
  // No number by default: one shard at a time, the next taken in its tail (workers/next-shard-slots.ts).
  assert.equal(
    flag(inference, '--inference-concurrency'),
    undefined,
    'the worker chooses its slots unless TESSERA_INFERENCE_CONCURRENCY says',
  );
  assert.equal(inference.environment?.TESSERA_INFERENCE_CONCURRENCY, '', 'empty unless the host sets it');
  assert.match(
    String(raw.services['tessera-inference-worker']?.deploy?.replicas),
    /^\$\{\w+:-\d+\}$/,
    'replicas come from an env var',
  );
  const devices = inference.deploy?.resources?.reservations?.devices ?? [];
  assert.ok(
    devices.some((device) => device.driver === 'nvidia' && device.capabilities?.includes('gpu')),
    'reserves an NVIDIA GPU',
  );
});

test('workers stop gracefully and share one declared volume at /data', () => {
  for (const [name, worker] of workers) {
    assert.equal(worker.stop_signal, 'SIGTERM', name);
    assert.match(
      worker.stop_grace_period ?? '',
      /^\d+[ms]$/,
      `${name}: time for running activities to stop before SIGKILL`,
    );
    assert.ok(
      worker.volumes?.some((volume) => volume.endsWith(':/data')),
      `${name} mounts /data`,
    );
  }
  // Runs name paths under /data that every worker (and the CLI that submits them) must resolve alike.
  const dataVolumes = Object.values(services)
    .flatMap((service) => service.volumes ?? [])
    .filter((volume) => volume.endsWith(':/data'));
  assert.equal(new Set(dataVolumes).size, 1, `one volume at /data, not ${[...new Set(dataVolumes)].join(', ')}`);
  const declared = Object.keys(compose.volumes ?? {});
  for (const [name, service] of Object.entries(services)) {
    for (const source of (service.volumes ?? []).map((volume) => volume.split(':')[0]!)) {
      if (!/^[./~]/.test(source)) assert.ok(declared.includes(source), `${name}: volume ${source} is declared`);
    }
  }
});

test('published host ports are unique, and no replicated service publishes one', () => {
  const hostPorts = Object.values(services).flatMap((service) =>
    publishedPorts(service).flatMap((port) => port.host ?? []),
  );
  assert.deepEqual(hostPorts, [...new Set(hostPorts)]);
  for (const [name, service] of Object.entries(services)) {
    if (service.deploy?.replicas !== undefined)
      assert.deepEqual(publishedPorts(service), [], `${name}: replica 2 would collide`);
  }
});

test('every build uses infra/Dockerfile stages, whose COPY sources exist and are in the build context', () => {
  const builds = Object.values(services).flatMap((service) => (service.build ? [service.build] : []));
  assert.ok(builds.length >= 2);
  for (const build of builds) {
    const context = path.resolve(INFRA, build.context);
    assert.equal(context, ROOT, 'built from the repository root');
    const dockerfile = fs.readFileSync(path.join(context, build.dockerfile ?? 'Dockerfile'), 'utf8');
    // Instructions, with line continuations joined and comments dropped.
    const instructions = dockerfile
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const stages: string[] = [];
    const allowed = fs
      .readFileSync(path.join(context, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1));
    for (const instruction of instructions) {
      const [keyword, ...args] = instruction.split(/\s+/);
      if (keyword === 'FROM' && args[1]?.toUpperCase() === 'AS') stages.push(args[2]!);
      if (keyword !== 'COPY') continue;
      const copyFrom = args.find((arg) => arg.startsWith('--from='))?.slice('--from='.length);
      const sources = args.filter((arg) => !arg.startsWith('--')).slice(0, -1);
      if (copyFrom) {
        assert.ok(stages.includes(copyFrom), `COPY --from=${copyFrom} names an earlier stage`);
        continue;
      }
      for (const source of sources) {
        assert.ok(fs.existsSync(path.join(context, source)), `COPY source ${source} exists`);
        assert.ok(allowed.includes(source), `.dockerignore lets ${source} into the build context`);
      }
    }
    assert.ok(
      build.target && stages.includes(build.target),
      `target ${build.target} is a stage of ${build.dockerfile}`,
    );
  }
});
