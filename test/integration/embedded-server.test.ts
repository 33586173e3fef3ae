/**
 * The embedded default's own Temporal dev server, with real `tessera run` processes: one run per
 * output folder (the folder's lease), a server that dies with tessera (signals, SIGKILL) or is
 * killed by the next run when it did not, recovery from an unusable state file, a clear message
 * for an output folder that cannot be written, and `tessera status` finding the embedded server.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DevServerStartError, freePort, startDevServerOnOwnState } from '../../lib/dev/dev-server.ts';
import { DEFAULT_MODEL, temporalBinary } from '../../lib/core/project-paths.ts';
import { processAlive } from '../../lib/core/process-info.ts';
import { leaseFile } from '../../lib/run-folder/lease.ts';
import { LeaseRecordSchema, type LeaseRecord } from '../../lib/run-folder/records.ts';
import { StatusReportSchema } from '../../lib/run/run-status.ts';
import { generateSampleData } from '../../lib/dev/sample-data.ts';
import { requireSetup, tempDir } from '../support/environment.ts';
import {
  childProcesses,
  startTessera,
  TESSERA_BIN,
  waitForFile,
  waitUntil,
  type TesseraProcess,
} from '../support/processes.ts';

let dir: string;
let data: string;
const started: TesseraProcess[] = [];
const strays: number[] = [];

/** 36 training images in 9 shards of 4: a run lasts long enough to be interrupted mid-way. */
const runArgs = (out: string) => [
  'run',
  '--quiet',
  '--data',
  data,
  '--out',
  out,
  '--model',
  DEFAULT_MODEL,
  '--shard-size',
  '4',
  '--batch-size',
  '2',
  '--parallel-shards',
  '1',
  '--heartbeat-seconds',
  '3',
];

function tessera(args: string[], options: Parameters<typeof startTessera>[1] = {}): TesseraProcess {
  const proc = startTessera(args, options);
  started.push(proc);
  return proc;
}

function leaseOf(out: string): LeaseRecord | null {
  try {
    return LeaseRecordSchema.parse(JSON.parse(fs.readFileSync(leaseFile(out), 'utf8')));
  } catch {
    return null;
  }
}

/**
 * The dev server an embedded run spawned on `out`'s state file, found as its child process (not
 * through the lease, so that these checks hold for any way of starting it).
 */
async function serverOf(out: string, proc: TesseraProcess): Promise<{ pid: number; port: number }> {
  const dbFile = path.join(out, '.tessera', 'temporal', 'state.db');
  let found: { pid: number; argv: string[] } | undefined;
  await waitUntil(
    () =>
      (found = childProcesses(proc.child.pid!).find(
        (child) => child.argv.includes('start-dev') && child.argv.includes(dbFile),
      )) !== undefined,
    'its Temporal dev server',
    { watched: proc },
  );
  const { pid, argv } = found!;
  return { pid, port: Number(argv[argv.indexOf('--port') + 1]) };
}

/** Shard reports published so far (not the temporary file of one being written). */
function shardsDone(out: string): number {
  const reports = path.join(out, '.tessera', 'shards', 'train');
  return fs.existsSync(reports) ? fs.readdirSync(reports).filter((name) => name.endsWith('.json')).length : 0;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const noStackTrace = (output: string) => assert.doesNotMatch(output, /^\s+at /m, `no stack trace:\n${output}`);

before(async () => {
  requireSetup('model', 'temporal');
  dir = tempDir('embedded');
  data = path.join(dir, 'data');
  await generateSampleData({ dir: data, images: 40, classes: 4 });
});

after(async () => {
  for (const proc of started) await proc.killHard();
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

test('two identical runs started together on one folder: one runs, the other is refused at once naming it; later runs on the folder work', async () => {
  const out = path.join(dir, 'together');
  const ended = new Map<TesseraProcess, number>();
  const both = [tessera(runArgs(out)), tessera(runArgs(out))];
  for (const proc of both) void proc.exited.then(() => ended.set(proc, Date.now()));
  const codes = await Promise.all(both.map((proc) => proc.exited));
  const outputs = both.map((proc) => proc.output()).join('\n---\n');
  assert.deepEqual([...codes].sort(), [0, 2], outputs);
  const winner = both[codes.indexOf(0)]!;
  const loser = both[codes.indexOf(2)]!;
  assert.match(
    loser.output(),
    new RegExp(
      `output folder ${out} is in use by another tessera run: pid ${winner.child.pid} on ${os.hostname()}, since \\d{4}-\\d\\d-\\d\\dT`,
    ),
  );
  assert.ok(ended.get(loser)! < ended.get(winner)!, 'the second run was refused while the first still ran');
  assert.doesNotMatch(outputs, /SQLITE_BUSY|database is locked|no such table/);
  noStackTrace(loser.output());
  assert.equal(leaseOf(out), null, 'the lease is released at the end');

  const later = tessera(runArgs(out));
  assert.equal(await later.exited, 0, later.output());
});

test('a run on a folder in use mid-run is refused naming host, pid, start and server address; `tessera status --out` reaches that server; two quick SIGTERMs stop it at once', async () => {
  const out = path.join(dir, 'held');
  const markers = path.join(dir, 'markers-held');
  fs.mkdirSync(markers, { recursive: true });
  // Held at a failpoint mid-shard, whose activity never ends: a graceful stop cannot finish.
  const holder = tessera(runArgs(out), { failpoint: 'extract-mid-shard', failpointDir: markers, failpointShard: 1 });
  await waitForFile(path.join(markers, 'extract-mid-shard'), holder);
  const lease = leaseOf(out)!;
  assert.equal(lease.pid, holder.child.pid);
  assert.equal(lease.host, os.hostname());
  assert.match(lease.owner, /^tessera run --quiet --data /);
  assert.ok(lease.server && processAlive(lease.server.pid));

  const second = tessera(runArgs(out));
  assert.equal(await second.exited, 2, second.output());
  const since = lease.startedAt.replace(/\./g, '\\.');
  assert.match(
    second.output(),
    new RegExp(
      `pid ${lease.pid} on ${os.hostname()}, since ${since} .*Temporal server is at ${lease.server.address} \\(Web UI ${lease.server.uiUrl}\\)`,
    ),
  );

  // Nor may a cluster run start a second workflow in it.
  const onCluster = tessera([...runArgs(out), '--address', '127.0.0.1:1']);
  assert.equal(await onCluster.exited, 2, onCluster.output());
  assert.match(onCluster.output(), new RegExp(`pid ${lease.pid} on ${os.hostname()}`));

  const status = tessera(['status', '--out', out, '--json']);
  assert.equal(await status.exited, 0, status.output());
  const reported = JSON.parse(status.output()) as { status: string; progress: { stage: string } | null };
  assert.equal(reported.status, 'RUNNING');
  assert.equal(reported.progress?.stage, 'extract');

  holder.child.kill('SIGTERM');
  // The second signal once the first is being handled (the graceful stop has begun).
  await waitUntil(
    () => /SIGTERM: stopping \(a second signal stops at once\)/.test(holder.output()),
    'the first SIGTERM',
    {
      watched: holder,
      timeoutMs: 30_000,
    },
  );
  holder.child.kill('SIGTERM');
  assert.equal(await holder.exited, 143, holder.output());
  assert.match(holder.output(), /SIGTERM again: killing the local Temporal server and exiting now/);
  await waitUntil(() => !processAlive(lease.server!.pid), 'the server is gone', { timeoutMs: 3_000 });
  assert.ok(await portFree(Number(lease.server.address.split(':')[1])), 'its port is free');
  assert.equal(leaseOf(out), null, 'the lease is released');
});

const signalCases: { signal: NodeJS.Signals; code: number; midRun: boolean }[] = [
  { signal: 'SIGTERM', code: 143, midRun: true },
  { signal: 'SIGINT', code: 130, midRun: false },
  { signal: 'SIGHUP', code: 129, midRun: false },
];

for (const { signal, code, midRun } of signalCases) {
  test(`${signal} ${midRun ? 'mid-run' : 'while the server starts'}: tessera exits ${code}, its server and its lease go with it`, async () => {
    const out = path.join(dir, `signal-${signal}`);
    const run = tessera(runArgs(out));
    const server = await serverOf(out, run);
    if (midRun) await waitUntil(() => shardsDone(out) > 0, 'a first shard', { watched: run });
    run.child.kill(signal);
    assert.equal(await run.exited, code, run.output());
    assert.match(run.output(), new RegExp(`${signal}: stopping`));
    assert.ok(!processAlive(server.pid), 'the server stopped');
    assert.ok(await portFree(server.port), 'its port is free');
    assert.equal(leaseOf(out), null, 'the lease is released');
    if (midRun) assert.ok(shardsDone(out) < 9, 'it was stopped mid-run');
    const status = tessera(['status', '--out', out, '--json']);
    assert.equal(await status.exited, 0, status.output());
    const report = StatusReportSchema.parse(JSON.parse(status.output()));
    assert.equal(report.state, 'interrupted');
    assert.equal(report.resume, ['tessera', ...runArgs(out)].join(' '));
  });
}

test('tessera SIGKILLed (node alone): its server dies with it, and the same command then completes the run', async () => {
  const out = path.join(dir, 'sigkill');
  const run = tessera(runArgs(out));
  const server = await serverOf(out, run);
  await waitUntil(() => shardsDone(out) > 0, 'a first shard', { watched: run });
  process.kill(run.child.pid!, 'SIGKILL'); // not the process group: only the parent-death signal can take the server along
  await run.exited;
  await waitUntil(() => !processAlive(server.pid), 'the server died with tessera', { timeoutMs: 5_000 });
  assert.ok(await portFree(server.port), 'its port is free');
  const status = tessera(['status', '--out', out, '--json']);
  assert.equal(await status.exited, 0, status.output());
  const crashed = StatusReportSchema.parse(JSON.parse(status.output()));
  assert.equal(crashed.state, 'stopped', 'a crash is told from its stale lease');
  assert.equal(crashed.source, 'folder');
  assert.equal(crashed.resume, ['tessera', ...runArgs(out)].join(' '));
  assert.match(crashed.failure ?? '', new RegExp(`pid ${run.child.pid} .*stopped without finishing`));
  assert.equal(crashed.progress?.stage, 'extract');
  assert.ok(
    crashed.progress.shardsDone >= 1 && crashed.progress.shardsDone < crashed.progress.shardsTotal,
    `shards ${crashed.progress.shardsDone}/${crashed.progress.shardsTotal}`,
  );

  const again = tessera(runArgs(out));
  assert.equal(await again.exited, 0, again.output());
  assert.ok(fs.existsSync(path.join(out, 'vectors.parquet')));
});

/**
 * A dev server on `dbFile` that nothing takes down (as a tessera without a death signal leaves one), listening.
 * Its ports are free when picked but can be taken before it binds them, so it tries other ports then;
 * any other failure shows the server's own output.
 */
async function startLeftoverServer(dbFile: string): Promise<{ pid: number; port: number; uiPort: number }> {
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const logFile = path.join(dir, `leftover-${Date.now()}.log`);
  for (let attempt = 1; ; attempt++) {
    const [port, uiPort] = [await freePort(), await freePort()];
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--db-filename',
      dbFile,
      '--log-level',
      'warn',
    ];
    const log = fs.openSync(logFile, 'w');
    const leftover = spawn(temporalBinary(), args, { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    strays.push(leftover.pid!);
    const exited = () => leftover.exitCode !== null || leftover.signalCode !== null;
    await waitUntil(async () => exited() || !(await portFree(port)), 'the leftover server listens', {
      timeoutMs: 60_000,
    });
    if (!exited()) return { pid: leftover.pid!, port, uiPort };
    const output = fs.readFileSync(logFile, 'utf8');
    if (!/address already in use/.test(output) || attempt >= 3)
      throw new Error(`the leftover server exited (${leftover.exitCode ?? leftover.signalCode}):\n${output}`);
  }
}

test('a server left running on the folder by a run that died (no death signal) is killed by the next run: the one its stale lease names, or one found without a lease', async () => {
  const out = path.join(dir, 'leftover');
  const dbFile = path.join(out, '.tessera', 'temporal', 'state.db');
  const recorded = await startLeftoverServer(dbFile);
  const deadHolder = spawnSync(process.execPath, ['-e', '']).pid;
  const time = new Date(Date.now() - 60_000).toISOString();
  const stale: LeaseRecord = {
    format: 1,
    owner: 'tessera run (died)',
    host: os.hostname(),
    bootId: null,
    pid: deadHolder,
    pidStart: null,
    startedAt: time,
    renewedAt: time,
    token: 'died',
    server: {
      address: `127.0.0.1:${recorded.port}`,
      uiUrl: `http://127.0.0.1:${recorded.uiPort}`,
      pid: recorded.pid,
      dbFile,
    },
  };
  fs.writeFileSync(leaseFile(out), JSON.stringify(stale));

  const run = tessera(runArgs(out));
  assert.equal(await run.exited, 0, run.output());
  assert.match(
    run.output(),
    new RegExp(`stopped the Temporal server \\(pid ${recorded.pid}\\) that an earlier run on this folder left running`),
  );
  assert.ok(!processAlive(recorded.pid), 'the leftover server is gone');

  const unrecorded = await startLeftoverServer(dbFile);
  assert.equal(leaseOf(out), null);
  const again = tessera(runArgs(out));
  assert.equal(await again.exited, 0, again.output());
  assert.match(again.output(), new RegExp(`stopped the Temporal server \\(pid ${unrecorded.pid}\\)`));
  assert.ok(!processAlive(unrecorded.pid), 'the unrecorded leftover server is gone');
});

test('an unusable state file (corrupt) is moved aside with one line and the run continues on a fresh server, reusing finished shards', async () => {
  const out = path.join(dir, 'corrupt');
  const first = tessera([...runArgs(out), '--keep-shards']);
  assert.equal(await first.exited, 0, first.output());
  const stateDir = path.join(out, '.tessera', 'temporal');
  const shardFile = path.join(out, 'shards', 'shard-00000.parquet');
  const shardTime = fs.statSync(shardFile).mtimeMs;
  const garbage = Buffer.alloc(64 * 1024, 0x5a);
  fs.writeFileSync(path.join(stateDir, 'state.db'), garbage);
  // A finished folder with unchanged inputs needs no server at all: this one stopped before its manifest.
  fs.rmSync(path.join(out, 'manifest.json'));

  const again = tessera([...runArgs(out), '--keep-shards']);
  assert.equal(await again.exited, 0, again.output());
  const notes = again
    .output()
    .split('\n')
    .filter((line) => /state file/.test(line));
  assert.equal(notes.length, 1, again.output());
  assert.match(
    notes[0]!,
    /^tessera: the local Temporal server cannot use its state file .*state\.db \(.*not a database.*\): moved it to state\.db\.broken-\d{8}T\d{6}Z and starting with a fresh one; nothing is lost/,
  );
  const broken = fs.readdirSync(stateDir).filter((name) => name.startsWith('state.db.broken-'));
  assert.equal(broken.length, 1, broken.join(', '));
  assert.deepEqual(fs.readFileSync(path.join(stateDir, broken[0]!)), garbage, 'the broken state is kept, unchanged');
  assert.equal(fs.statSync(shardFile).mtimeMs, shardTime, 'a finished shard is not extracted again');
});

test('a state file the server blames is put back when a fresh server fails too: the file was not the cause', async () => {
  const stateDir = path.join(dir, 'not-the-state');
  fs.mkdirSync(stateDir, { recursive: true });
  const dbFile = path.join(stateDir, 'state.db');
  fs.writeFileSync(dbFile, 'the only copy');
  // A server that always blames its database, whatever the file.
  const fake = path.join(dir, 'always-failing-temporal');
  fs.writeFileSync(
    fake,
    '#!/bin/sh\necho "Error: failed starting server: SQL logic error: no such table: namespaces (1)" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  const lines: string[] = [];
  const saved = process.env.TESSERA_TEMPORAL_BIN;
  process.env.TESSERA_TEMPORAL_BIN = fake;
  try {
    await assert.rejects(
      startDevServerOnOwnState({ dbFile }, (line) => lines.push(line)),
      DevServerStartError,
    );
  } finally {
    if (saved === undefined) delete process.env.TESSERA_TEMPORAL_BIN;
    else process.env.TESSERA_TEMPORAL_BIN = saved;
  }
  assert.equal(fs.readFileSync(dbFile, 'utf8'), 'the only copy');
  assert.deepEqual(
    fs.readdirSync(stateDir).filter((name) => name.includes('broken')),
    [],
  );
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0]!, /cannot use its state file .* moved it to state\.db\.broken-/);
  assert.match(lines[1]!, /a fresh server failed too, so the state file was not the cause: put state\.db back/);
});

test('an output folder that cannot be written is refused with its cause (read-only, not writable, disk full), exit 1, no stack trace', async (t) => {
  const locked = tempDir('embedded-locked');
  fs.chmodSync(locked, 0o755);
  // The run as nobody must reach the dataset (its temp folder is the owner's alone): else it is
  // refused as missing before the output folder is looked at.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(locked, 'ro'), { mode: 0o555 });
  fs.chmodSync(path.join(locked, 'ro'), 0o555);
  // Root writes anywhere: then the run is made as nobody.
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
  const command = [
    ...asUser,
    process.execPath,
    TESSERA_BIN,
    'run',
    '--data',
    data,
    '--out',
    path.join(locked, 'ro', 'out'),
  ];
  const denied = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', timeout: 60_000 });
  assert.equal(denied.status, 1, denied.stderr);
  assert.match(
    denied.stderr,
    new RegExp(
      `cannot write to output folder ${locked}/ro/out: it is not writable by this user \\(EACCES at ${locked}/ro/out\\)`,
    ),
  );
  noStackTrace(denied.stderr);

  // A read-only file system and a full disk, as tmpfs mounts in a private mount namespace.
  if (spawnSync('unshare', ['-rm', 'true']).status !== 0) {
    t.diagnostic(
      'unshare -rm (user and mount namespaces) is not available here: read-only and full file systems not checked',
    );
    return;
  }
  const mountPoint = path.join(locked, 'mnt');
  fs.mkdirSync(mountPoint);
  const inNamespace = (setup: string, out: string) =>
    spawnSync(
      'unshare',
      [
        '-rm',
        'sh',
        '-c',
        `${setup} && exec "$0" "$1" run --data "$2" --out "$3"`,
        process.execPath,
        TESSERA_BIN,
        data,
        out,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
  const readOnly = inNamespace(
    `mount -t tmpfs tmpfs ${mountPoint} && mkdir ${mountPoint}/out && mount -o remount,ro ${mountPoint}`,
    path.join(mountPoint, 'out', 'new'),
  );
  assert.equal(readOnly.status, 1, readOnly.stderr);
  assert.match(
    readOnly.stderr,
    new RegExp(
      `cannot write to output folder ${mountPoint}/out/new: it is on a read-only file system \\(EROFS at ${mountPoint}/out/new\\)`,
    ),
  );
  noStackTrace(readOnly.stderr);

  const full = inNamespace(
    `mount -t tmpfs -o size=64k tmpfs ${mountPoint} && mkdir ${mountPoint}/out && (dd if=/dev/zero of=${mountPoint}/fill bs=4k 2>/dev/null; true)`,
    path.join(mountPoint, 'out'),
  );
  assert.equal(full.status, 1, full.stderr);
  assert.match(full.stderr, new RegExp(`cannot write to output folder ${mountPoint}/out: the disk is full \\(ENOSPC`));
  noStackTrace(full.stderr);
});
