import path from 'node:path';
import type { RunSummary } from '../core/run-summary.ts';
import type { OutputLayout } from '../run-folder/layout.ts';
import type { Manifest } from '../run-folder/records.ts';

/**
 * What the workflow returned when the folder's run finished, from its manifest. Apart from
 * finished-run.ts, whose checks load sharp and onnxruntime: `tessera status` reads only this.
 */
export function summaryOfFinishedRun(manifest: Manifest, layout: OutputLayout): RunSummary {
  const published = (name: string | undefined) => (name === undefined ? null : path.join(layout.out, name));
  return {
    workflowId: manifest.workflow.id,
    out: layout.out,
    vectors: published(manifest.files.vectors),
    validationVectors: published(manifest.files.validationVectors),
    manifest: layout.manifest,
    counts: manifest.counts,
    timings: manifest.timings,
  };
}
