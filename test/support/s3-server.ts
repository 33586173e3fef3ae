import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';

/** Installed by infra/setup-s3.sh (npm test runs it first). */
export const MOTO_SERVER = path.join(PROJECT_ROOT, '.venv-s3', 'bin', 'moto_server');
export const RCLONE = path.join(PROJECT_ROOT, '.venv-s3', 'bin', 'rclone');

export interface S3Server {
  endpoint: string;
  /** The environment a tessera process needs to reach this server (test credentials only). */
  env: Record<string, string>;
  client: S3Client;
  /** The server's process (benchmarks read its CPU time). */
  pid: number;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, name: string, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} in ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A real S3-compatible server (moto's server mode) on loopback, in memory, for one test file. */
export function startS3Server(): Promise<S3Server> {
  return startServer('moto_server', (port) => [MOTO_SERVER, '-H', '127.0.0.1', '-p', String(port)]);
}

/**
 * `rclone serve s3` over `dir` (each sub-folder a bucket): a store without conditional writes (it
 * accepts a second If-None-Match: * PUT), which tessera must refuse for --out and may read from.
 */
export function startRcloneS3(dir: string): Promise<S3Server> {
  return startServer('rclone', (port) => [RCLONE, 'serve', 's3', dir, '--addr', `127.0.0.1:${port}`]);
}

async function startServer(name: string, command: (port: number) => string[]): Promise<S3Server> {
  const port = await freePort();
  const [program, ...args] = command(port);
  const child = spawn(program!, args, { stdio: 'ignore' });
  await waitForPort(port, child, name, 30_000);
  const endpoint = `http://127.0.0.1:${port}`;
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'tessera-test',
    AWS_SECRET_ACCESS_KEY: 'tessera-test-secret',
    AWS_REGION: 'us-east-1',
  };
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'; // as tessera's own clients (s3-client.ts)
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    env,
    client,
    pid: child.pid!,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
