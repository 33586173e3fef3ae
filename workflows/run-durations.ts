/**
 * The waits and limits workflow code uses, passed in (the run's optional second argument) so that
 * a focused test can shorten them; runs use RUN_DURATIONS.
 */
export interface RunDurations {
  /**
   * The least time compaction beside extraction gets after the last shard before its split is
   * compacted afresh (it gets the extraction's own time when that is longer).
   */
  followerGraceMs: number;
  /** How long a split's first shard is handed out alone, unless it is done sooner. */
  firstShardAloneMs: number;
  /** Rounds of extracting damaged shards again before a run gives up on them. */
  shardRepairRounds: number;
}

export const RUN_DURATIONS: RunDurations = {
  // A follower should need about one shard's copy after the last shard; past the extraction's own
  // time (at least this) something is wrong, and compacting afresh is the known way out.
  followerGraceMs: 60_000,
  // The dev server fires a 1 ms timer after about a second.
  firstShardAloneMs: 1,
  shardRepairRounds: 3,
};

/** RUN_DURATIONS with the given ones in their place. */
export function runDurations(given: Partial<RunDurations> = {}): RunDurations {
  return { ...RUN_DURATIONS, ...given };
}
