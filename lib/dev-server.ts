import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporalBinary } from './project-paths.ts';

export interface DevServer {
  /** host:port of the frontend (gRPC). */
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
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

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts `temporal server start-dev` on loopback with a state file and its Web UI; waits until healthy. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const binary = temporalBinary();
  if (!fs.existsSync(binary)) {
    throw new Error(`Temporal CLI not found at ${binary}: run \`bash infra/setup-temporal.sh\` (or \`npm run setup\`)`);
  }
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort(ip));
  const uiPort = options.uiPort ?? (await freePort(ip));
  fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const logFile = options.logFile ?? path.join(path.dirname(options.dbFile), 'temporal-server.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    binary,
    ['server', 'start-dev', '--ip', ip, '--port', String(port), '--ui-port', String(uiPort),
      '--db-filename', options.dbFile, '--log-level', 'warn'],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));

  const address = `${ip}:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`Temporal dev server ${exited} before becoming ready; log ${logFile}:\n${tail(logFile)}`);
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
      throw new Error(`Temporal dev server at ${address} not healthy after ${options.readyTimeoutMs ?? 60_000} ms; log ${logFile}:\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { address, uiUrl: `http://${ip}:${uiPort}`, process: child, stop };
}
