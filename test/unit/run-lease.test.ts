import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { OutputFolderError, outputFolderError } from '../../lib/run-folder/output-folder.ts';
import { processAlive } from '../../lib/core/process-info.ts';
import { acquireRunLease, judgeLease, leaseFile, LeaseHeldError, readLiveLease } from '../../lib/run-folder/lease.ts';
import { LeaseRecordSchema, type LeaseRecord } from '../../lib/run-folder/records.ts';
import { tempDir } from '../support/environment.ts';
import { waitUntil } from '../support/processes.ts';

const owner = 'tessera run --test';

/** A pid that no process has any more: a finished child's. */
function deadPid(): number {
  const done = spawnSync(process.execPath, ['-e', '']);
  assert.ok(done.pid && !processAlive(done.pid));
  return done.pid;
}

function writeLease(out: string, fields: Partial<Omit<LeaseRecord, 'format'>>, ageMs = 0): LeaseRecord {
  const time = new Date(Date.now() - ageMs).toISOString();
  const record: LeaseRecord = {
    format: 1,
    owner: 'tessera run --other',
    host: os.hostname(),
    bootId: null,
    pid: deadPid(),
    pidStart: null,
    startedAt: time,
    renewedAt: time,
    token: 'other-token',
    ...fields,
  };
  const file = leaseFile(out);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(record));
  const mtime = new Date(Date.now() - ageMs);
  fs.utimesSync(file, mtime, mtime);
  return record;
}

function readLease(out: string): LeaseRecord {
  return LeaseRecordSchema.parse(JSON.parse(fs.readFileSync(leaseFile(out), 'utf8')));
}

test('a lease is taken with only OUT/.tessera created, names its holder, and is removed on release', () => {
  const out = path.join(tempDir('lease'), 'new', 'out');
  const lease = acquireRunLease(out, { owner });
  try {
    assert.deepEqual(fs.readdirSync(out), ['.tessera']);
    assert.deepEqual(fs.readdirSync(path.join(out, '.tessera')), ['lease.json']);
    const record = readLease(out);
    assert.equal(record.owner, owner);
    assert.equal(record.host, os.hostname());
    assert.equal(record.pid, process.pid);
    assert.ok(Date.parse(record.startedAt) <= Date.parse(record.renewedAt));
    assert.equal(lease.previous, null);
  } finally {
    lease.release();
  }
  assert.deepEqual(fs.readdirSync(path.join(out, '.tessera')), []);
  lease.release(); // idempotent
});

test('a second run on a held folder is refused, naming host, pid, start and the server address', () => {
  const out = tempDir('lease');
  const lease = acquireRunLease(out, { owner });
  try {
    lease.recordServer({ address: '127.0.0.1:41234', uiUrl: 'http://127.0.0.1:41235', pid: 1, dbFile: '/x/state.db' });
    assert.equal(readLiveLease(out)?.server?.address, '127.0.0.1:41234');
    assert.throws(
      () => acquireRunLease(out, { owner: 'tessera run --second' }),
      (error: Error) => {
        assert.ok(error instanceof LeaseHeldError);
        assert.match(
          error.message,
          new RegExp(
            `in use by another tessera run: pid ${process.pid} on ${os.hostname()}, since ${lease.current.startedAt}`,
          ),
        );
        assert.match(error.message, /Temporal server is at 127\.0\.0\.1:41234 \(Web UI http:\/\/127\.0\.0\.1:41235\)/);
        assert.match(error.message, /tessera status --out/);
        return true;
      },
    );
    assert.equal(readLease(out).token, lease.current.token, 'the refused attempt left the lease alone');
  } finally {
    lease.release();
  }
});

test('a lease of a dead process on this machine is stale at once; the new lease reports what it replaced', () => {
  const out = tempDir('lease');
  const stale = writeLease(out, {
    server: { address: '127.0.0.1:1', uiUrl: 'http://127.0.0.1:2', pid: 99, dbFile: '/x' },
  });
  assert.equal(readLiveLease(out), null);
  const lease = acquireRunLease(out, { owner });
  try {
    assert.equal(lease.previous?.token, stale.token);
    assert.equal(lease.previous?.server?.pid, 99);
    assert.equal(readLease(out).token, lease.current.token);
    assert.deepEqual(fs.readdirSync(path.join(out, '.tessera')), ['lease.json'], 'no stale or temporary file is left');
  } finally {
    lease.release();
  }
});

test('a live pid whose start time differs (a reused pid) does not hold the lease', () => {
  const out = tempDir('lease');
  writeLease(out, { pid: process.pid, pidStart: '1' });
  const lease = acquireRunLease(out, { owner });
  lease.release();
});

test('a lease from another machine holds until it is not renewed for the TTL (by its clock and by the file time)', () => {
  const out = tempDir('lease');
  writeLease(out, { host: 'elsewhere', pid: process.pid }, 10_000);
  assert.throws(() => acquireRunLease(out, { owner }), /pid \d+ on elsewhere/);

  // Its clock is behind, but the file was written just now: still live.
  writeLease(out, { host: 'elsewhere' }, 0);
  fs.writeFileSync(
    leaseFile(out),
    JSON.stringify({ ...readLease(out), renewedAt: new Date(Date.now() - 120_000).toISOString() }),
  );
  assert.throws(() => acquireRunLease(out, { owner }), LeaseHeldError);

  writeLease(out, { host: 'elsewhere', token: 'silent' }, 31_000);
  const lease = acquireRunLease(out, { owner });
  assert.equal(lease.previous?.token, 'silent');
  lease.release();

  const record = { ...readLeaseRecord('elsewhere'), renewedAt: new Date(0).toISOString() };
  assert.deepEqual(judgeLease({ record, mtimeMs: 0 }, 29_000, 30_000), { live: true });
  assert.equal(judgeLease({ record, mtimeMs: 0 }, 31_000, 30_000).live, false);
});

function readLeaseRecord(host: string): LeaseRecord {
  return { format: 1, owner, host, bootId: null, pid: 1, pidStart: null, startedAt: '', renewedAt: '', token: 't' };
}

test('an unreadable lease file is left alone while young (being written), broken when old', () => {
  const out = tempDir('lease');
  fs.mkdirSync(path.join(out, '.tessera'));
  fs.writeFileSync(leaseFile(out), '{"host":');
  assert.throws(() => acquireRunLease(out, { owner }), /being written by another process/);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(leaseFile(out), old, old);
  const lease = acquireRunLease(out, { owner });
  assert.equal(lease.previous, null);
  lease.release();
});

test('renewal moves renewedAt; a lease taken over by someone else is reported lost and not removed on release', () => {
  const out = tempDir('lease');
  let now = Date.now();
  const lost: (LeaseRecord | null)[] = [];
  const lease = acquireRunLease(out, { owner, now: () => now, onLost: (holder) => lost.push(holder) });
  now += 7_000;
  lease.renew();
  assert.equal(Date.parse(readLease(out).renewedAt) - Date.parse(readLease(out).startedAt), 7_000);

  const thief = writeLease(out, { host: 'elsewhere', token: 'thief' });
  lease.renew();
  assert.deepEqual(
    lost.map((holder) => holder?.token),
    ['thief'],
  );
  lease.release();
  assert.equal(readLease(out).token, thief.token, 'the other holder keeps its lease');
});

test('write errors become messages naming the folder and the cause; others pass through', () => {
  const cases: [string, RegExp][] = [
    ['EROFS', /cannot write to output folder \/o: it is on a read-only file system \(EROFS at \/o\/\.tessera\)/],
    ['EACCES', /it is not writable by this user \(EACCES/],
    ['ENOSPC', /the disk is full \(ENOSPC/],
    ['EDQUOT', /quota/],
  ];
  for (const [code, message] of cases) {
    const error = outputFolderError('/o', Object.assign(new Error(code), { code, path: '/o/.tessera' }));
    assert.ok(error instanceof OutputFolderError);
    assert.match(error.message, message);
  }
  const other = Object.assign(new Error('weird'), { code: 'EIO' });
  assert.equal(outputFolderError('/o', other), other);
});

test("a breaking file left by a process that died mid-break does not hold the folder: this machine's is judged by its pid, another's by its age", () => {
  for (const [host, ageMs] of [
    [os.hostname(), 0],
    ['elsewhere', 20_000],
  ] as const) {
    const out = tempDir('lease-breaking');
    const stale = writeLease(out, {});
    const breaking = `${leaseFile(out)}.breaking`;
    fs.writeFileSync(breaking, JSON.stringify({ host, pid: deadPid(), pidStart: null }));
    const mtime = new Date(Date.now() - ageMs);
    fs.utimesSync(breaking, mtime, mtime);
    const lease = acquireRunLease(out, { owner });
    try {
      assert.equal(lease.previous?.token, stale.token, host);
      assert.deepEqual(
        fs.readdirSync(path.join(out, '.tessera')),
        ['lease.json'],
        `${host}: the breaking file is gone`,
      );
    } finally {
      lease.release();
    }
  }
});

test('processes racing to break one stale lease: exactly one holds it, the others are refused naming it', async () => {
  // Three rounds, each on its own folder, raced by the same eight processes (loading tsx is most
  // of their cost). Each round starts at the same moment for all, once every one has loaded and
  // said so with a file (then spins until the round's go file is there); the winner holds on until
  // every racer has had its answer, so a loser could only have got the lease by racing, not after
  // a release.
  const ROUNDS = 3;
  const barrier = tempDir('lease-race-barrier');
  const folders = Array.from({ length: ROUNDS }, () => {
    const out = tempDir('lease-race');
    writeLease(out, { host: 'elsewhere', token: 'stale' }, 60_000);
    return out;
  });
  const script = `
    import fs from 'node:fs';
    import path from 'node:path';
    import { acquireRunLease } from ${JSON.stringify(path.join(PROJECT_ROOT, 'lib', 'run-folder', 'lease.ts'))};
    const barrier = ${JSON.stringify(barrier)};
    for (const [round, out] of ${JSON.stringify(folders)}.entries()) {
      fs.writeFileSync(path.join(barrier, 'ready-' + round + '-' + process.pid), '');
      while (!fs.existsSync(path.join(barrier, 'go-' + round)));
      try {
        const lease = acquireRunLease(out, { owner: 'racer' });
        console.log(JSON.stringify({ round, held: lease.current.token, previous: lease.previous?.token ?? null }));
        while (!fs.existsSync(path.join(barrier, 'release-' + round))) await new Promise((r) => setTimeout(r, 10));
        lease.release();
      } catch (error) {
        console.log(JSON.stringify({ round, refused: error.name, message: error.message }));
      }
    }`;
  type Answer = { round: number; held?: string; previous?: string | null; refused?: string; message?: string };
  const racers = Array.from({ length: 8 }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const racer = { text: '', done: false, exited: new Promise((resolve) => child.once('exit', resolve)) };
    void racer.exited.then(() => (racer.done = true));
    child.stdout.on('data', (d: Buffer) => (racer.text += d.toString()));
    return racer;
  });
  const answers = (round: number) =>
    racers.flatMap((r) =>
      r.text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Answer)
        .filter((answer) => answer.round === round),
    );
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const ready = () => fs.readdirSync(barrier).filter((name) => name.startsWith(`ready-${round}-`)).length;
      await waitUntil(() => ready() === 8 || racers.some((r) => r.done), `every racer at round ${round}`, {
        timeoutMs: 120_000,
      });
      fs.writeFileSync(path.join(barrier, `go-${round}`), '');
      await waitUntil(() => answers(round).length === 8 || racers.some((r) => r.done), `round ${round} answered`, {
        timeoutMs: 60_000,
      });
      fs.writeFileSync(path.join(barrier, `release-${round}`), '');
      const results = answers(round);
      assert.equal(results.length, 8, `round ${round}: every racer answered`);
      const holders = results.filter((r) => r.held);
      assert.equal(holders.length, 1, JSON.stringify(results));
      // It learns the stale lease it replaced when it read it; a racer may have removed it unseen.
      assert.ok([null, 'stale'].includes(holders[0]!.previous ?? null));
      for (const r of results.filter((r) => !r.held)) {
        assert.equal(r.refused, 'LeaseHeldError', JSON.stringify(r));
        assert.match(r.message!, /in use by another tessera run: pid \d+/);
      }
    }
  } finally {
    // A failed round leaves no racer spinning at a barrier.
    for (let round = 0; round < ROUNDS; round++)
      for (const name of [`go-${round}`, `release-${round}`]) fs.writeFileSync(path.join(barrier, name), '');
    await Promise.all(racers.map((r) => r.exited));
  }
});
