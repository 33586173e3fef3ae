/**
 * The version of the run's workflow code, recorded in every run's memo under WORKFLOW_CODE_MEMO
 * as its first command. Bump it whenever workflow code changes so that a run started by the old
 * code would no longer replay (another sequence of activities, timers, children or markers): tessera
 * restarts such a run instead of leaving it to fail replay on every workflow task, forever
 * (cli/stale-runs.ts, docs/compatibility.md).
 */
export const WORKFLOW_CODE_VERSION = 1;

export const WORKFLOW_CODE_MEMO = 'tesseraWorkflowCode';
