import path from 'node:path';
import { InputError } from '../core/errors.ts';
import { isUri, URI_SCHEME } from '../core/uri.ts';

/**
 * Where a folder or file lives: a local path or an object-store prefix. Every place tessera names
 * a folder or file (data, out, reuse, model, a worker's roots) is parsed by this one function.
 */
export type Location = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; key: string };

/** S3 bucket names: 3–63 characters of lower-case letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export { isUri };

/**
 * `s3://bucket/some/prefix` or a local path (resolved against `cwd` when relative). Another scheme
 * is refused by name: GCS is reached through its S3-compatible endpoint, Azure not at all yet.
 */
export function parseLocation(text: string, cwd = process.cwd()): Location {
  const scheme = URI_SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', path: path.resolve(cwd, text) };
  if (scheme === 'file') return { kind: 'local', path: path.resolve(decodeURIComponent(text.slice('file://'.length))) };
  if (scheme !== 's3') {
    const hint = scheme === 'gs' ? ': use GCS through its S3-compatible endpoint (AWS_ENDPOINT_URL_S3) and s3://' : '';
    throw new InputError(`${text}: the ${scheme}:// scheme is not supported (only local paths and s3://)${hint}`);
  }
  const rest = text.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BUCKET.test(bucket)) throw new InputError(`${text}: "${bucket}" is not a valid S3 bucket name`);
  const key = normaliseKey(slash < 0 ? '' : rest.slice(slash + 1));
  return { kind: 's3', bucket, key };
}

/** A key without leading, trailing or doubled slashes; `.` and `..` segments are refused. */
function normaliseKey(key: string): string {
  const parts = key.split('/').filter((part) => part !== '');
  if (parts.some((part) => part === '.' || part === '..'))
    throw new InputError(`s3 key "${key}": "." and ".." are not allowed in an object key`);
  return parts.join('/');
}

export function formatLocation(location: Location): string {
  if (location.kind === 'local') return location.path;
  return location.key === '' ? `s3://${location.bucket}` : `s3://${location.bucket}/${location.key}`;
}

/** `location` joined with a relative, '/'-separated name (a file inside a folder or prefix). */
export function joinLocation(location: Location, relative: string): Location {
  if (location.kind === 'local') return { kind: 'local', path: path.join(location.path, relative) };
  const tail = normaliseKey(relative);
  return { ...location, key: location.key === '' ? tail : tail === '' ? location.key : `${location.key}/${tail}` };
}

/** Whether `inner` is `outer` or lies below it (a folder's files, a prefix's objects). */
export function isWithin(inner: Location, outer: Location): boolean {
  if (inner.kind === 'local' && outer.kind === 'local') {
    const relative = path.relative(outer.path, inner.path);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  }
  if (inner.kind === 's3' && outer.kind === 's3') {
    if (inner.bucket !== outer.bucket) return false;
    return outer.key === '' || inner.key === outer.key || inner.key.startsWith(`${outer.key}/`);
  }
  return false;
}
