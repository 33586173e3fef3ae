import type { ActivitySlotInfo, CustomSlotSupplier, SlotPermit, TunerHolder } from '@temporalio/worker';
import type { ShardTurn } from '../lib/extract/extract-shard.ts';

/**
 * Slots of the inference queue: one shard at a time, and the next one taken while the current one
 * is in its tail. The shard boundary (the last batches' rows and fsync, the activity's round trip
 * through the server, the next shard's plan, model hash and first decodes: 0.3–0.5 s here) then
 * overlaps the model's last batches instead of leaving the session idle. The decode threads and
 * the session serve the earlier shard's batches first (each shard has a place in line), so shards
 * usually finish in the order they started (a small or wholly reused one may finish first).
 *
 * Taking the next shard only at the tail, rather than holding two from the start, leaves shards on
 * the server for other workers while a shard takes longer than its tail (about a second). A shard
 * shorter than that (on a GPU, 1,024 images at 2,000 images/s) is in its tail from its first batch,
 * and such a worker holds two shards all along.
 */
export class NextShardSlots implements CustomSlotSupplier<ActivitySlotInfo> {
  readonly type = 'custom';
  /** Slots reserved and not released: polling, or running a shard. */
  private reserved = 0;
  /** Shards that have entered and are in their tail. */
  private tails = 0;
  private readonly waiting: { grant: (permit: SlotPermit) => void }[] = [];
  private entered = 0;

  /** `shards`: shards run at once before the tail of one of them lets another start. */
  constructor(private readonly shards = 1) {}

  /** Called by the shard activity when it starts: its turn, to mark its tail and its end. */
  enter(): ShardTurn {
    let inTail = false;
    let left = false;
    return {
      place: this.entered++,
      tail: () => {
        if (inTail || left) return;
        inTail = true;
        this.tails++;
        this.grantWaiting();
      },
      leave: () => {
        if (left) return;
        left = true;
        if (inTail) this.tails--;
      },
    };
  }

  /** Room for one more: fewer than `shards` slots held by shards not in their tail, and one spare at most. */
  private hasRoom(): boolean {
    return this.reserved - this.tails < this.shards && this.reserved < this.shards + 1;
  }

  // A permit granted as the SDK drops its request (only at shutdown) is lost with it: the counts
  // then stay one too high, for a worker that is stopping anyway.
  reserveSlot(_ctx: unknown, abortSignal: AbortSignal): Promise<SlotPermit> {
    if (abortSignal.aborted) return Promise.reject(abortSignal.reason);
    if (this.hasRoom()) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const waiter = { grant: resolve };
      this.waiting.push(waiter);
      abortSignal.addEventListener(
        'abort',
        () => {
          const at = this.waiting.indexOf(waiter);
          if (at < 0) return;
          this.waiting.splice(at, 1);
          reject(abortSignal.reason);
        },
        { once: true },
      );
    });
  }

  tryReserveSlot(): SlotPermit | null {
    return this.hasRoom() ? this.take() : null;
  }

  markSlotUsed(): void {}

  releaseSlot(): void {
    this.reserved--;
    this.grantWaiting();
  }

  private take(): SlotPermit {
    this.reserved++;
    return {};
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.hasRoom()) this.waiting.shift()!.grant(this.take());
  }
}

/** A worker tuner with `activities` for activity slots and the SDK's defaults for the rest. */
export function tunerWithActivitySlots(activities: NextShardSlots): TunerHolder {
  return {
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 40 },
    activityTaskSlotSupplier: activities,
    localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
    nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 100 },
  };
}
