import http from 'node:http';
import type net from 'node:net';

/** What the proxy does to the next requests that match, in order; then it forwards faithfully. */
export type Fault =
  | { kind: 'slow-down' } // 503 SlowDown, as S3 throttles
  | { kind: 'reset-mid-body' } // forwards the headers and part of the body, then resets the connection
  | { kind: 'stall'; ms: number }; // says nothing for `ms`, then forwards

export interface FaultProxy {
  endpoint: string;
  /** Queues faults for the next requests whose method and path match. */
  inject(faults: Fault[], match?: (request: http.IncomingMessage) => boolean): void;
  /** Requests seen, faulty ones included. */
  requests: number;
  /** Every request seen, as `METHOD /path` (query string dropped), in order. */
  readonly log: string[];
  /** Bytes of the response bodies forwarded faithfully, by request method (what clients downloaded). */
  readonly responseBytes: Record<string, number>;
  /** Faults injected and not yet applied (a request that never came leaves one here). */
  pending: number;
  stop(): Promise<void>;
}

const SLOW_DOWN = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`;

/** A loopback HTTP proxy in front of a real S3 server that injects the faults a real network has. */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const queue: { fault: Fault; match: (request: http.IncomingMessage) => boolean }[] = [];
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const log: string[] = [];
  const responseBytes: Record<string, number> = {};

  const forward = (request: http.IncomingMessage, response: http.ServerResponse, fault?: Fault) => {
    const outgoing = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault?.kind !== 'reset-mid-body') {
          const method = request.method ?? '';
          answer.on('data', (chunk: Buffer) => (responseBytes[method] = (responseBytes[method] ?? 0) + chunk.length));
          return void answer.pipe(response);
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent > 0) return;
          sent = chunk.length;
          response.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)), () => request.socket.destroy());
        });
      },
    );
    outgoing.on('error', () => request.socket.destroy());
    request.pipe(outgoing);
  };

  const server = http.createServer((request, response) => {
    requests++;
    log.push(`${request.method} ${decodeURIComponent((request.url ?? '').split('?')[0]!)}`);
    const index = queue.findIndex((entry) => entry.match(request));
    const fault = index >= 0 ? queue.splice(index, 1)[0]!.fault : undefined;
    if (fault?.kind === 'slow-down') {
      request.resume();
      response.writeHead(503, { 'content-type': 'application/xml' }).end(SLOW_DOWN);
    } else if (fault?.kind === 'stall') {
      setTimeout(() => forward(request, response), fault.ms);
    } else forward(request, response, fault);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inject(faults, match = () => true) {
      for (const fault of faults) queue.push({ fault, match });
    },
    get requests() {
      return requests;
    },
    log,
    responseBytes,
    get pending() {
      return queue.length;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
