// Types of bin/workflow-bundle.js, for the TypeScript that loads it (workers/workflow-bundle.ts).

export declare const BUNDLE_FILE: string;
export declare const BUNDLE_RECORD: string;

export interface WorkflowBundleRecord {
  format: number;
  sources: Record<string, { size: number; mtimeMs: number; sha256: string }>;
  absent: string[];
}

export declare function bundleWorkflows(root: string): Promise<{ code: string; record: WorkflowBundleRecord }>;
export declare function writeWorkflowBundle(root: string, folder: string): Promise<boolean>;
export declare function prebuiltWorkflowBundle(
  root: string,
): { code: string; record: WorkflowBundleRecord & { code: { size: number; sha256: string } } } | { stale: string };
