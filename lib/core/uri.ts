/** `scheme://…`: a URI (s3://bucket/prefix) rather than a local path. Workflow-safe (no Node built-ins). */
export const URI_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function isUri(text: string): boolean {
  return URI_SCHEME.test(text);
}
