import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { temporalBinary } from '../core/project-paths.ts';
import { processAlive, processCommandLine } from '../core/process-info.ts';

/** A spawned dev server, ready or not yet. */
export interface DevServerProcess {
  /** host:port of the frontend (gRPC). */
  address: string;
  uiUrl: string;
  pid: number;
  /**
   * SIGTERM, SIGKILL after 10 s; resolves when it has exited. The server's graceful stop takes a
   * second or more (its frontend drains connections for at least 1 s). With `now`, SIGKILL at once:
   * what the server acknowledged is in its SQLite state file, which a killed process leaves
   * consistent, and the next start on it carries on as after a crash.
   */
  stop(options?: { now?: boolean }): Promise<void>;
  /** SIGKILL now, for a second Ctrl-C. */
  kill(): void;
}

export interface DevServer extends DevServerProcess {
  process: ChildProcess;
}

export interface DevServerOptions {
  /** SQLite state file: workflows survive a restart of the server. */
  dbFile: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  /** Where the server's own output goes (default: next to dbFile). */
  logFile?: string;
  readyTimeoutMs?: number;
  /** Called right after the spawn, before the server is ready: a caller can record or stop it. */
  onSpawn?: (server: DevServerProcess) => void;
}

/** The server did not become ready; `output` is what it printed in this attempt. */
export class DevServerStartError extends Error {
  override name = 'DevServerStartError';
  constructor(
    message: string,
    /** Its exit code when it exited by itself with one; null when it was killed or timed out. */
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(message);
  }
}

export async function freePort(ip = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, ip, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.max(0, Math.min(size - offset, 1 << 20)));
      fs.readSync(fd, buffer, 0, buffer.length, Math.max(offset, size - buffer.length));
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function lastLines(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * On Linux, `setpriv --pdeathsig KILL` (util-linux) makes the kernel SIGKILL the server when the
 * process that spawned it dies, however it dies (SIGKILL included), so a dead tessera never leaves
 * a server holding its ports and state file. Checked by running it once, because old util-linux
 * lacks the option. Elsewhere an exit hook and the run lease's record of the pid are the fallback.
 */
function deathSignalPrefix(): string[] {
  if (process.platform !== 'linux') return [];
  const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
  return probe.status === 0 ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
}

function spawnServer(
  options: DevServerOptions,
  ip: string,
  port: number,
  uiPort: number,
  logFile: string,
): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  try {
    const command = [
      ...deathSignalPrefix(),
      temporalBinary(),
      'server',
      'start-dev',
      '--ip',
      ip,
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--db-filename',
      options.dbFile,
      '--log-level',
      'warn',
    ];
    return spawn(command[0]!, command.slice(1), { stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

/**
 * Starts `temporal server start-dev` on loopback with a state file and its Web UI; waits until
 * healthy. Ports it picks itself are free when picked but released before the server binds them,
 * so another process can take one in between: then it tries again on other ports.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(options);
    } catch (error) {
      const portTaken = error instanceof DevServerStartError && /address already in use/.test(error.output);
      if (!portTaken || options.port !== undefined || options.uiPort !== undefined || attempt >= 3) throw error;
    }
  }
}

async function startDevServerOnce(options: DevServerOptions): Promise<DevServer> {
  const binary = temporalBinary();
  if (!fs.existsSync(binary)) {
    throw new Error(`Temporal CLI not found at ${binary}: run \`bash infra/setup-temporal.sh\` (or \`npm run setup\`)`);
  }
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort(ip));
  const uiPort = options.uiPort ?? (await freePort(ip));
  fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const logFile = options.logFile ?? path.join(path.dirname(options.dbFile), 'temporal-server.log');
  const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const child = spawnServer(options, ip, port, uiPort, logFile);
  let exited: { code: number | null; how: string } | undefined;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code: signal ? null : code, how: `exited with ${signal ?? `code ${code}`}` };
      resolve();
    });
    // A failed spawn (say, the binary is not executable) emits only this; unheard, it would crash the process.
    child.once('error', (error) => {
      exited ??= { code: null, how: `could not be started (${error.message})` };
      resolve();
    });
  });
  // Without a death signal, at least a normal exit of this process (process.exit included) takes the server along.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  void gone.then(() => process.off('exit', killOnExit));

  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async ({ now = false } = {}) => {
    if (!running()) return;
    child.kill(now ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const kill = () => {
    if (running()) child.kill('SIGKILL');
  };
  const address = `${ip}:${port}`;
  const server: DevServer = {
    address,
    uiUrl: `http://${ip}:${uiPort}`,
    pid: child.pid ?? -1,
    process: child,
    stop,
    kill,
  };
  options.onSpawn?.(server);

  // Loaded once the server is spawned, while it starts: the embedded run spawns it before the SDK loads.
  const { Connection } = await import('@temporalio/client');
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const output = readFrom(logFile, logStart);
      throw new DevServerStartError(
        `Temporal dev server ${exited.how} before becoming ready; log ${logFile}:\n${lastLines(output)}`,
        exited.code,
        output,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        const response = await connection.workflowService.describeNamespace({ namespace: 'default' });
        if (response.namespaceInfo) break;
      } finally {
        await connection.close();
      }
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      await stop();
      const output = readFrom(logFile, logStart);
      throw new DevServerStartError(
        `Temporal dev server at ${address} not healthy after ${timeoutMs} ms; log ${logFile}:\n${lastLines(output)}`,
        null,
        output,
      );
    }
    // Often enough that the run does not wait long for a server that has become ready (~1 s here).
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return server;
}

/** What the server prints when its SQLite file is not a usable Temporal state (corrupt, half-created, foreign). */
const BROKEN_STATE = /SQLite|SQL logic error|no such table|not a database|malformed/i;
/** ...and what says the file is fine but busy or the disk is the problem: moving the file would not help. */
const NOT_THE_STATE = /database is locked|SQLITE_BUSY|database or disk is full|SQLITE_FULL|disk I\/O error/i;

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Moves the state file and its WAL/shared-memory files to `<db>.broken-<time>[-wal|-shm]`; returns the new name. */
function moveStateAside(dbFile: string): string {
  let broken = `${dbFile}.broken-${stamp(new Date())}`;
  for (let n = 2; fs.existsSync(broken); n++) broken = `${dbFile}.broken-${stamp(new Date())}-${n}`;
  fs.renameSync(dbFile, broken);
  for (const suffix of ['-wal', '-shm']) {
    if (fs.existsSync(dbFile + suffix)) fs.renameSync(dbFile + suffix, broken + suffix);
  }
  return broken;
}

function moveStateBack(dbFile: string, broken: string): void {
  // What the failed fresh start created is worth nothing; the original goes back unchanged.
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbFile + suffix, { force: true });
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(broken + suffix)) fs.renameSync(broken + suffix, dbFile + suffix);
  }
}

/**
 * startDevServer for a state file that tessera owns (the embedded run's): when the server refuses
 * the file itself (corrupt, or half-created by a crash), the file is moved aside and a fresh one
 * started, since every durable result is in the output folder and a new workflow reuses it. If
 * the fresh server fails too, the file was not the problem: it is put back and that error thrown.
 */
export async function startDevServerOnOwnState(
  options: DevServerOptions,
  report: (line: string) => void,
): Promise<DevServer> {
  try {
    return await startDevServer(options);
  } catch (error) {
    // Only a server that gave up by itself (not one stopped by a signal, e.g. tessera's own Ctrl-C) and blamed its database.
    const stateRefused =
      error instanceof DevServerStartError &&
      error.exitCode !== null &&
      error.exitCode !== 0 &&
      BROKEN_STATE.test(error.output) &&
      !NOT_THE_STATE.test(error.output);
    if (!stateRefused || !fs.existsSync(options.dbFile)) throw error;
    const cause = lastLines(error.output, 1).replace(/^Error: /, '');
    const broken = moveStateAside(options.dbFile);
    report(
      `the local Temporal server cannot use its state file ${options.dbFile} (${cause}): moved it to ${path.basename(broken)} and starting ` +
        'with a fresh one; nothing is lost, every result is in the output folder and shards already written are reused',
    );
    try {
      return await startDevServer(options);
    } catch (second) {
      moveStateBack(options.dbFile, broken);
      report(
        `a fresh server failed too, so the state file was not the cause: put ${path.basename(options.dbFile)} back`,
      );
      throw second;
    }
  }
}

/** Whether `argv` is a dev server's command line on the state file `dbFile` (absolute). */
function servesState(argv: string[] | null, dbFile: string): boolean {
  if (!argv || !argv.includes('start-dev')) return false;
  return argv.some(
    (arg, i) => (arg === dbFile && argv[i - 1] === '--db-filename') || arg === `--db-filename=${dbFile}`,
  );
}

/** Live processes of this machine that serve `dbFile` as their state (empty without /proc). */
function serversOnState(dbFile: string): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => servesState(processCommandLine(pid), dbFile));
}

/**
 * Kills dev servers left running on `dbFile` by a run that died without taking them along (no
 * death signal there): the pid its lease recorded, and any other process of this machine whose
 * command line serves this state file (a lease lost in a race between two breakers, or a run of
 * a tessera without leases). Only called by the lease's holder, so no live run owns them. A pid
 * is killed only while its command line names this file, never a pid that has since been reused.
 * Returns the pids it killed.
 */
export async function killLeftoverServers(dbFile: string, recordedPid?: number): Promise<number[]> {
  const file = path.resolve(dbFile);
  const candidates = new Set([...(recordedPid ? [recordedPid] : []), ...serversOnState(file)]);
  const leftovers = [...candidates].filter(
    (pid) => pid !== process.pid && servesState(processCommandLine(pid), file) && processAlive(pid),
  );
  const kill = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  };
  for (const pid of leftovers) kill(pid, 'SIGTERM'); // lets it close the SQLite file cleanly
  const deadline = Date.now() + 5_000;
  while (leftovers.some((pid) => processAlive(pid))) {
    if (Date.now() > deadline) for (const pid of leftovers) kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return leftovers;
}
