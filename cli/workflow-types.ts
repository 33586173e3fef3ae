import type { WORKFLOW_TYPE } from '../lib/temporal/task-queues.ts';
import type * as workflows from '../workflows/index.ts';

/**
 * The run's workflow as clients see it (typed arguments and result) without loading workflow code
 * into the client: `client.workflow.start<ExtractVectorsWorkflow>(WORKFLOW_TYPE, …)`. Looked up by
 * WORKFLOW_TYPE among the workflow module's exports, so the name and the function cannot drift.
 */
export type ExtractVectorsWorkflow = (typeof workflows)[typeof WORKFLOW_TYPE];
