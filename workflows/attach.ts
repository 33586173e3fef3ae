import { defineUpdate } from '@temporalio/workflow';
import type { AttachResult } from '../lib/run/attach-check.ts';
import type { RunConfigInput } from '../lib/core/run-config.ts';

export type { AttachResult };

/**
 * Sent (with update-with-start) by every `tessera run`: the command's own run config. The open run
 * answers `attached` when it already works on those options and data, `restarted` when it starts
 * over on the command's (changed data, or --force with changed options), and refuses changed
 * options without --force, naming them.
 */
export const attachUpdate = defineUpdate<AttachResult, [RunConfigInput]>('attach');
