/** `scheme://…`: a URI (s3://bucket/prefix) rather than a local path. Workflow-safe (no Node built-ins). */
export const URI_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function isUri(text: string): boolean {
  return URI_SCHEME.test(text);
}

/**
 * `base` (a URI) joined with a '/'-separated relative name: `s3://b/data` + `images` →
 * `s3://b/data/images`. Empty and `.` segments go; `..` stays for confinement to refuse by name.
 */
export function joinUri(base: string, relative: string): string {
  const tail = relative
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
  const head = base.replace(/\/+$/, '');
  return tail === '' ? head : `${head}/${tail}`;
}
