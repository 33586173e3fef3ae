import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../core/errors.ts';
import { RunConfigSchema } from '../core/run-config.ts';
import { openImageSource, readImage, type ImageSource } from '../extract/image-source.ts';
import { runLayout } from '../run-folder/layout.ts';
import { Stores } from '../storage/open-store.ts';
import { QueryImageError } from './query-embedder.ts';
import type { Searcher } from './searcher.ts';
import { SEARCH_PAGE } from './search-page.ts';

/**
 * `tessera serve`: one page and a small JSON API over an output's index. Loopback by default;
 * the Host header must name this server (a page of another site that rebinds its DNS name to
 * 127.0.0.1 is refused), no CORS header is ever sent, and a request whose Origin is another
 * site's is refused. Uploads are read into memory up to a byte limit, checked for pixels from
 * their header before decoding, and never written to disk. One query runs at a time: another
 * gets 503 at once rather than a queue that grows.
 */
export interface ServeOptions {
  host?: string;
  port?: number;
  maxBytes?: number;
  maxPixels?: number;
  top?: number;
}

export const DEFAULT_MAX_BYTES = 10 * 2 ** 20;
export const DEFAULT_MAX_PIXELS = 40_000_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const PAGE_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

/** The request's body, refused past `maxBytes` (by its Content-Length at once, else as it arrives). */
async function readBody(request: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw new HttpError(413, `the upload is ${declared} bytes, over the limit of ${maxBytes}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new HttpError(413, `the upload is over the limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Host names a request may name this server by: the bound one, and loopback's when bound to loopback. */
function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set([host.includes(':') ? `[${host}]` : host]);
  if (['127.0.0.1', 'localhost', '::1'].includes(host))
    for (const name of ['127.0.0.1', 'localhost', '[::1]']) names.add(name);
  return new Set([...names].map((name) => `${name}:${port}`));
}

function imageType(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes.subarray(0, 4).toString('latin1') === '\x89PNG') return 'image/png';
  if (bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return 'application/octet-stream';
}

/** A training image of the index, by ordinal, for the page to outline its matching tiles. */
async function trainingImage(searcher: Searcher, images: Promise<ImageSource>, ordinal: number): Promise<Buffer> {
  const image = searcher.opened.images.get(ordinal);
  if (!image) throw new HttpError(404, `no indexed image ${ordinal}`);
  const source = await images.catch(() => undefined);
  if (!source) throw new HttpError(404, `the run's image folder is gone`);
  return Buffer.from(
    await readImage(source, image[1]).catch(() => {
      throw new HttpError(404, `${image[1]} is no longer in ${source.where}`);
    }),
  );
}

function health(searcher: Searcher, busy: boolean) {
  const { record } = searcher.opened;
  return {
    ok: true,
    entries: record.entries,
    images: record.images.length,
    vectorsSha256: record.vectors.sha256,
    settings: record.settings,
    busy,
  };
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the server over an opened searcher; the caller closes the searcher after the server. */
export async function startSearchServer(searcher: Searcher, options: ServeOptions = {}): Promise<RunningServer> {
  const { host = '127.0.0.1', port = 8765, maxBytes = DEFAULT_MAX_BYTES, maxPixels = DEFAULT_MAX_PIXELS } = options;
  const config = RunConfigSchema.parse(searcher.opened.manifest.config);
  // The run's images, where its own command read them: a folder (links followed) or an s3:// prefix.
  const stores = new Stores();
  const images = openImageSource(runLayout(config).images, 'anywhere', stores);
  images.catch(() => undefined); // said per request: the page still answers searches
  let busy = false;
  let hosts = new Set<string>();

  const search = async (request: http.IncomingMessage) => {
    if (busy) throw new HttpError(503, 'another query is running: try again in a moment');
    busy = true;
    try {
      const bytes = await readBody(request, maxBytes);
      if (bytes.byteLength === 0) throw new HttpError(400, 'the upload is empty: send the image as the body');
      return await searcher.search(bytes, 'the upload', { top: options.top ?? 5, maxPixels });
    } catch (error) {
      if (error instanceof QueryImageError)
        throw new HttpError(/over the limit/.test(error.message) ? 413 : 415, error.message);
      throw error;
    } finally {
      busy = false;
    }
  };

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (!hosts.has(String(request.headers.host ?? '').toLowerCase()))
      throw new HttpError(421, 'this server answers only to its own host name');
    const origin = request.headers.origin;
    if (origin !== undefined && !hosts.has(origin.replace(/^https?:\/\//, '').toLowerCase()))
      throw new HttpError(403, 'requests from other sites are refused');
    const url = new URL(request.url ?? '/', 'http://server');
    if (request.method === 'GET' && url.pathname === '/') {
      response.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': PAGE_POLICY,
      });
      return void response.end(SEARCH_PAGE);
    }
    if (request.method === 'GET' && url.pathname === '/health') return sendJson(response, 200, health(searcher, busy));
    if (request.method === 'POST' && url.pathname === '/search') return sendJson(response, 200, await search(request));
    const image = /^\/images\/(\d+)$/.exec(url.pathname);
    if (request.method === 'GET' && image) {
      const bytes = await trainingImage(searcher, images, Number(image[1]));
      response.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': imageType(bytes),
        'cache-control': 'max-age=3600',
      });
      return void response.end(bytes);
    }
    throw new HttpError(404, `no ${request.method} ${url.pathname}`);
  };

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof InputError ? 400 : 500;
      if (status === 500) process.stderr.write(`tessera serve: ${(error as Error).stack ?? String(error)}\n`);
      // The rest of a refused upload is not read: the connection closes after the answer.
      if (!request.complete) response.setHeader('connection', 'close');
      if (!response.headersSent) sendJson(response, status, { error: (error as Error).message });
      else response.destroy();
    });
  });
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  hosts = allowedHosts(host, bound);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }).finally(() => stores.close()),
  };
}
