import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { quietBundlerLogger } from '../../workers/create-workers.ts';
import { installRuntime } from '../../workers/runtime.ts';

/** The SDK's log lines go to a file, not into the test report. */
export function quietRuntime(): void {
  const dir = path.join(PROJECT_ROOT, '.test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  installRuntime({ logFile: path.join(dir, 'temporal-sdk.log'), level: 'INFO' });
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** The workflow code bundled once per test process (each bundle takes seconds). */
export function bundleOnce(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(workflowsPath);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
    bundles.set(workflowsPath, bundle);
  }
  return bundle;
}

/** Polls `condition` every 20 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
