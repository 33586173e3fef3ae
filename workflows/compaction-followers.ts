import { CancellationScope, isCancellation, log, sleep } from '@temporalio/workflow';
import type { FollowedCompaction } from '../lib/compact/follow-extraction.ts';
import type { RunConfig, Split } from '../lib/core/run-config.ts';
import type { activitiesFor } from './activity-options.ts';

type Outcome = { followed: FollowedCompaction } | { error: unknown };

/**
 * Each split's compaction, started when its extraction starts (`followExtraction`): it copies
 * every shard as soon as the shard is done, so that once the last one is, only that shard, the
 * footer and the checks are left. A follower that fails for any reason leaves nothing behind but
 * a missing result: the run then compacts that split as it always did, after extraction, with the
 * same checks and repairs.
 */
export class CompactionFollowers {
  private readonly scope = new CancellationScope();
  private readonly outcomes = new Map<Split, Promise<Outcome>>();

  constructor(
    private readonly config: RunConfig,
    private readonly activities: ReturnType<typeof activitiesFor>['followingCompaction'],
  ) {}

  /** Starts the split's follower unless it runs already. */
  follow(split: Split, shardCount: number): void {
    if (this.outcomes.has(split)) return;
    const running = this.scope.run(() => this.activities.followExtraction(this.config, split, shardCount));
    this.outcomes.set(
      split,
      running.then(
        (followed) => ({ followed }),
        (error: unknown) => ({ error }),
      ),
    );
  }

  /** Cancels every follower and waits until each has stopped and removed its temporary file. */
  async stop(): Promise<void> {
    this.scope.cancel();
    await Promise.all(this.outcomes.values());
  }

  /**
   * Once extraction is done: each split's followed file (for `publishFollowed`), or none where its
   * follower failed. A follower still running after `graceMs` (it waits for a shard report that
   * extraction did not leave, or copies far slower than extraction made shards) is stopped, and
   * its split compacted afresh.
   */
  async finish(graceMs: number): Promise<Map<Split, FollowedCompaction>> {
    const all = Promise.all(this.outcomes.values());
    const timer = new CancellationScope();
    const late = await Promise.race([
      all.then(() => false),
      timer
        .run(() => sleep(graceMs))
        .then(
          () => true,
          () => false,
        ),
    ]);
    timer.cancel();
    if (late) {
      log.warn('compaction beside extraction did not finish in time; compacting afresh', { graceMs });
      await this.stop();
    }
    const files = new Map<Split, FollowedCompaction>();
    for (const [split, outcome] of this.outcomes) {
      const settled = await outcome;
      if ('followed' in settled) files.set(split, settled.followed);
      else if (isCancellation(settled.error) && !late)
        throw settled.error; // the run itself was cancelled
      else if (!late)
        log.warn('compaction beside extraction failed; compacting afresh', { split, reason: String(settled.error) });
    }
    return files;
  }
}
