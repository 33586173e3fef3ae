import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeFolders, outputFolderError } from './output-folder.ts';
import { processAlive, processStartTime, readBootId } from '../core/process-info.ts';
import { outputLayout } from './layout.ts';
import { LeaseRecordSchema, type LeaseRecord, type LeaseServer } from './records.ts';

/**
 * The lease an embedded `tessera run` holds on its output folder (`OUT/.tessera/lease.json`), so
 * that two runs never share one folder and its Temporal state file (SQLite does not survive two
 * dev servers starting on it). Taken atomically before anything else in the folder is touched,
 * renewed while the run lives, released on exit. A lease whose holder is gone is stale and is
 * broken by the next run: at once when the holder ran on this machine and its process is dead,
 * after `ttlMs` without renewal when it ran elsewhere (a shared volume: its pid means nothing here).
 */

/** A holder on another machine that has not renewed for this long is presumed dead. */
export const LEASE_TTL_MS = 30_000;
export const LEASE_RENEW_MS = 5_000;
/** A lease file that cannot be parsed is being written (non-atomic fallback) or was torn by a crash. */
const UNREADABLE_GRACE_MS = 5_000;
/** Attempts to place the lease (waiting on another process that breaks a stale one is not one). */
const ACQUIRE_ATTEMPTS = 8;

export function leaseFile(out: string): string {
  return outputLayout(out).lease;
}

/** Whether the lease was written on this machine in this boot, so its pids can be checked here. */
export function onThisMachine(record: Pick<LeaseRecord, 'host' | 'bootId'>): boolean {
  if (record.host !== os.hostname()) return false;
  const bootId = readBootId();
  return record.bootId === null || bootId === null || record.bootId === bootId;
}

// ---- errors -----------------------------------------------------------------------------------

/** Who holds the lease, in a few words: `pid 123 on host`. */
export function leaseHolder(holder: LeaseRecord | null): string {
  return holder ? `pid ${holder.pid} on ${holder.host}` : 'no one (the lease file is gone)';
}

/** Why a command is refused the folder: who holds it, since when, and how to follow or stop that run. */
function heldMessage(out: string, holder: LeaseRecord): string {
  const server = holder.server
    ? `its Temporal server is at ${holder.server.address} (Web UI ${holder.server.uiUrl})`
    : 'its Temporal server is not started yet';
  return (
    `output folder ${out} is in use by another tessera run: ${leaseHolder(holder)}, since ${holder.startedAt} ` +
    `(${holder.owner}); ${server}. Follow it with \`tessera status --out ${out}\`, or stop that process and run again`
  );
}

/** Another live process holds the folder: the command is refused before it changes anything. */
export class LeaseHeldError extends Error {
  override name = 'LeaseHeldError';
  constructor(
    readonly out: string,
    readonly holder: LeaseRecord | null,
    detail?: string,
  ) {
    super(detail ?? (holder ? heldMessage(out, holder) : `output folder ${out} is in use by another tessera run`));
  }
}

// ---- the lease file ---------------------------------------------------------------------------

interface LeaseFileState {
  text: string;
  record: LeaseRecord | null;
  mtimeMs: number;
}

function parseLease(text: string): LeaseRecord | null {
  try {
    const parsed = LeaseRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function readLeaseFile(file: string): LeaseFileState | null {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return { text, record: parseLease(text), mtimeMs: fs.statSync(file).mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export type LeaseVerdict = { live: true } | { live: false; reason: string };

/** Whether the holder of a lease may still be running. */
export function judgeLease(
  state: { record: LeaseRecord | null; mtimeMs: number },
  now: number,
  ttlMs = LEASE_TTL_MS,
): LeaseVerdict {
  const { record } = state;
  if (!record) {
    return now - state.mtimeMs > UNREADABLE_GRACE_MS ? { live: false, reason: 'unreadable' } : { live: true };
  }
  if (onThisMachine(record)) {
    return processAlive(record.pid, record.pidStart)
      ? { live: true }
      : { live: false, reason: `its process ${record.pid} is gone` };
  }
  // Another machine: only silence tells. The later of the holder's clock and the file's mtime, so
  // that a skewed clock on either side does not break a lease that is being renewed.
  const age = now - Math.max(Date.parse(record.renewedAt) || 0, state.mtimeMs);
  return age > ttlMs ? { live: false, reason: `not renewed for ${Math.round(age / 1000)} s` } : { live: true };
}

/** The folder's lease record, live or not (a stale one is what a crashed run left), or null. */
export function readLeaseWithVerdict(
  out: string,
  ttlMs = LEASE_TTL_MS,
): { record: LeaseRecord; verdict: LeaseVerdict } | null {
  let state: LeaseFileState | null;
  try {
    state = readLeaseFile(leaseFile(out));
  } catch {
    return null;
  }
  return state?.record ? { record: state.record, verdict: judgeLease(state, Date.now(), ttlMs) } : null;
}

/** The lease of a run that holds `out` now, or null (no lease, or its holder is gone). */
export function readLiveLease(out: string, ttlMs = LEASE_TTL_MS): LeaseRecord | null {
  let state: LeaseFileState | null;
  try {
    state = readLeaseFile(leaseFile(out));
  } catch {
    return null;
  }
  return state?.record && judgeLease(state, Date.now(), ttlMs).live ? state.record : null;
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Puts `text` (already written to `tmp`) at `file` unless a file is there: a hard link is atomic
 * and shows the whole content at once. File systems without hard links get an exclusive create,
 * whose content readers may briefly see half-written (hence UNREADABLE_GRACE_MS).
 */
function placeExclusive(tmp: string, file: string, text: string): boolean {
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  }
  try {
    fs.writeFileSync(file, text, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * A breaking file of a process gone from this machine, or (written elsewhere) this old, was left by
 * a process that crashed while breaking a stale lease.
 */
const BREAKING_ABANDONED_MS = 10_000;
/** How long a process waits for another that is breaking the stale lease, between attempts. */
const BREAKING_WAIT_MS = 5;

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes the stale lease judged from `judgedText`, unless it changed meanwhile. One process at a
 * time breaks it (`lease.json.breaking`, created exclusively), and only by removing the very file it
 * judged: a breaker never moves a file it has not judged, so a fresh lease another process placed
 * meanwhile stays where it is (moving it aside to check it, as before, let a third process take
 * the empty place, and two runs then both held the folder). The others wait and try again.
 */
function breakStale(file: string, judgedText: string): 'broken' | 'waited' {
  const breaking = `${file}.breaking`;
  try {
    fs.writeFileSync(
      breaking,
      JSON.stringify({ host: os.hostname(), pid: process.pid, pidStart: processStartTime(process.pid) }) + '\n',
      { flag: 'wx' },
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (breakerAbandoned(breaking)) fs.rmSync(breaking, { force: true });
    else pause(BREAKING_WAIT_MS);
    return 'waited';
  }
  try {
    // No one else breaks it now, and no one places a lease over a file that is there: if it is
    // still the stale one it goes, and the racers then place theirs exclusively, one winning.
    // (Two breakers at once happen only if one crashed mid-break and two removed its file.)
    if (readLeaseFile(file)?.text === judgedText) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(breaking, { force: true });
  }
  return 'broken';
}

/** Whether the process that wrote `breaking` crashed before it removed it (see BREAKING_ABANDONED_MS). */
function breakerAbandoned(breaking: string): boolean {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(breaking, 'utf8');
    mtimeMs = fs.statSync(breaking).mtimeMs;
  } catch {
    return false; // gone meanwhile: the next attempt sees
  }
  try {
    const { host, pid, pidStart } = JSON.parse(text) as { host?: string; pid?: number; pidStart?: string | null };
    if (host === os.hostname() && typeof pid === 'number') return !processAlive(pid, pidStart);
  } catch {
    // being written, or torn: judged by its age
  }
  return Date.now() - mtimeMs > BREAKING_ABANDONED_MS;
}

export interface AcquireOptions {
  /** The command that holds the folder, shown to a run that is refused. */
  owner: string;
  ttlMs?: number;
  renewMs?: number;
  /** Called once when a renewal finds another holder's lease in place of this one. */
  onLost?: (holder: LeaseRecord | null) => void;
  now?: () => number;
}

/**
 * Takes the lease on `out`, creating `out/.tessera` if needed (and nothing else). Throws
 * LeaseHeldError when a live run holds it, OutputFolderError when the folder cannot be written.
 */
export function acquireRunLease(out: string, options: AcquireOptions): RunLease {
  const folder = path.resolve(out);
  const file = leaseFile(folder);
  makeFolders(path.dirname(file), folder);
  const now = options.now ?? Date.now;
  const token = randomUUID();
  const time = new Date(now()).toISOString();
  const record: LeaseRecord = {
    format: 1,
    owner: options.owner,
    host: os.hostname(),
    bootId: readBootId(),
    pid: process.pid,
    pidStart: processStartTime(process.pid),
    startedAt: time,
    renewedAt: time,
    token,
  };
  const text = JSON.stringify(record, null, 2) + '\n';
  const tmp = `${file}.${token}.tmp`;
  try {
    fs.writeFileSync(tmp, text, { flag: 'wx' });
    let previous: LeaseRecord | null = null;
    // Waiting on another process that breaks a stale lease is not an attempt, up to a deadline.
    const waitUntil = Date.now() + BREAKING_ABANDONED_MS + 5_000;
    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      if (placeExclusive(tmp, file, text)) return new RunLease(folder, record, previous, options);
      const current = readLeaseFile(file);
      if (!current) continue; // released or broken meanwhile: try again
      const verdict = judgeLease(current, now(), options.ttlMs);
      if (verdict.live) {
        throw current.record
          ? new LeaseHeldError(folder, current.record)
          : new LeaseHeldError(
              folder,
              null,
              `output folder ${folder} is in use: ${file} is being written by another process (retry in a few seconds)`,
            );
      }
      // Kept even when a racing process removes it first: what the dead run left (its server) is on it.
      // (A winner that never saw it relies on killLeftoverServers finding that server by its command line.)
      previous = current.record ?? previous;
      if (breakStale(file, current.text) === 'waited') {
        if (Date.now() > waitUntil)
          throw new LeaseHeldError(
            folder,
            null,
            `output folder ${folder}: another process has been breaking its stale lease for ${Math.round((BREAKING_ABANDONED_MS + 5_000) / 1000)} s (${file}.breaking); retry`,
          );
        attempt--;
      }
    }
    throw new LeaseHeldError(
      folder,
      null,
      `output folder ${folder}: other processes keep taking its lease ${file}; retry`,
    );
  } catch (error) {
    throw outputFolderError(folder, error);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** A held lease: renewed in the background until released (also on process exit). */
export class RunLease {
  readonly file: string;
  private record: LeaseRecord;
  private readonly timer: NodeJS.Timeout;
  private held = true;
  private readonly onExit = () => this.release();

  constructor(
    readonly out: string,
    record: LeaseRecord,
    /** The stale lease this one replaced: what its dead run may have left (a server) is on it. */
    readonly previous: LeaseRecord | null,
    private readonly options: AcquireOptions,
  ) {
    this.file = leaseFile(out);
    this.record = record;
    this.timer = setInterval(() => this.renew(), options.renewMs ?? LEASE_RENEW_MS);
    this.timer.unref(); // the run's own work keeps the process alive, not its lease
    process.on('exit', this.onExit);
  }

  get current(): LeaseRecord {
    return this.record;
  }

  /** Records the embedded server as soon as it is spawned (before it is ready). */
  recordServer(server: LeaseServer): void {
    this.record = { ...this.record, server };
    this.rewrite();
  }

  /** Refreshes renewedAt; runs on the timer, exposed for tests. */
  renew(): void {
    this.record = { ...this.record, renewedAt: new Date((this.options.now ?? Date.now)()).toISOString() };
    this.rewrite();
  }

  /** Removes the lease file if it is still this one. Idempotent; synchronous so that it works on exit. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    try {
      if (readLeaseFile(this.file)?.record?.token === this.record.token) fs.rmSync(this.file, { force: true });
    } catch {
      // the folder went away or became unreadable: nothing left to release
    }
  }

  private rewrite(): void {
    if (!this.held) return;
    let current: LeaseFileState | null;
    try {
      current = readLeaseFile(this.file);
    } catch {
      return; // unreadable for now (e.g. a network volume hiccup): the next renewal tries again
    }
    if (current?.record?.token !== this.record.token) {
      this.held = false;
      clearInterval(this.timer);
      process.off('exit', this.onExit);
      this.options.onLost?.(current?.record ?? null);
      return;
    }
    // Written aside and renamed over, so a reader never sees half a lease.
    const tmp = `${this.file}.${this.record.token}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(this.record, null, 2) + '\n');
      fs.renameSync(tmp, this.file);
    } catch {
      fs.rmSync(tmp, { force: true });
      // A full disk or a hiccup: renewals retry; only holders on other machines judge by age.
    }
  }
}
