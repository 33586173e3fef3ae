import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../lib/core/project-paths.ts';
import { timed } from '../lib/core/timeline.ts';

/** bin/workflow-bundle.js: plain JavaScript, since bin/build.js runs it before any TypeScript can load. */
type BundleModule = typeof import('../bin/workflow-bundle.js');

export interface WorkflowCode {
  code: string;
  /**
   * When the prebuilt bundle was not used: why (missing, or made from files that have changed
   * since), and the seconds it took to bundle workflows/ instead.
   */
  bundledNow?: { reason: string; seconds: number };
}

/**
 * The workflow code that a worker of this checkout runs: the bundle that `npm run build` wrote into
 * dist/, while every file it was made from (workflows/ and what it imports, the Temporal SDK's
 * workflow packages, the bundler's versions) is as its record says; otherwise workflows/ bundled
 * now, seconds of CPU, as every worker did before there was a prebuilt one. A stale bundle never
 * runs. The module is found from the root: this file runs from workers/ and dist/workers/ alike.
 */
export async function workflowCode(root = PROJECT_ROOT): Promise<WorkflowCode> {
  const bundles = (await import(pathToFileURL(path.join(root, 'bin', 'workflow-bundle.js')).href)) as BundleModule;
  const prebuilt = await timed('workflow code: prebuilt bundle check', async () =>
    bundles.prebuiltWorkflowBundle(root),
  );
  if ('code' in prebuilt) return { code: prebuilt.code };
  const started = performance.now();
  const { code } = await timed('workflow code: bundle workflows/', () => bundles.bundleWorkflows(root));
  return { code, bundledNow: { reason: prebuilt.stale, seconds: (performance.now() - started) / 1000 } };
}
