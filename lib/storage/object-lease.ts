import { z } from 'zod';
import type { ConditionalWrites, ObjectStore, StoredObject } from './object-store.ts';

/**
 * One holder at a time for an output prefix in an object store, where machines share nothing but
 * the store: the lease object is created only if absent (`If-None-Match: *`) and renewed only if
 * unchanged since its holder last wrote it (`If-Match` on its ETag). A holder that stops renewing
 * (crashed, lost its machine) is judged stale by what the observer sees on its own clock, the same
 * ETag for `ttlMs`, never by comparing clocks across machines; it is taken over with `If-Match` on
 * that ETag, so two observers cannot both take it.
 */
export const ObjectLeaseSchema = z.object({
  format: z.literal(1),
  host: z.string(),
  pid: z.number().int(),
  startedAt: z.string(),
  /** Who holds it, for the refusal another run prints (a command line, a workflow id). */
  owner: z.string(),
  /** The holder's renewals so far: every renewal changes the object, so its ETag. */
  renewals: z.number().int().min(0),
});
export type ObjectLeaseRecord = z.infer<typeof ObjectLeaseSchema>;

export type LeaseAttempt = { acquired: true } | { acquired: false; holder: ObjectLeaseRecord | null };

export interface ObjectLeaseOptions {
  /** A holder silent this long (the same ETag) is presumed gone. */
  ttlMs?: number;
  /** Whether the holder is known dead without waiting (its process on this machine is gone). */
  isDead?: (holder: ObjectLeaseRecord) => boolean;
  now?: () => number;
}

const encode = (record: ObjectLeaseRecord) => new TextEncoder().encode(JSON.stringify(record));

function decode(bytes: Uint8Array | undefined): ObjectLeaseRecord | null {
  if (!bytes) return null;
  try {
    const parsed = ObjectLeaseSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export class ObjectLease {
  private held: { record: ObjectLeaseRecord; tag: string } | undefined;
  /** The other holder's ETag and when this process first saw it. */
  private seen: { tag: string; since: number } | undefined;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: ObjectStore & ConditionalWrites,
    private readonly key: string,
    private readonly options: ObjectLeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  get holding(): boolean {
    return this.held !== undefined;
  }

  /**
   * Takes the lease if it is free or its holder is gone; otherwise names the holder. A holder is
   * gone once `isDead` says so, or once this process has seen its lease unchanged for `ttlMs`
   * (so a first attempt against a live or silent holder is refused, and a later one may succeed).
   */
  async tryAcquire(record: Omit<ObjectLeaseRecord, 'format' | 'renewals'>): Promise<LeaseAttempt> {
    const mine: ObjectLeaseRecord = { format: 1, ...record, renewals: 0 };
    const created = await this.store.createIfAbsent(this.key, encode(mine));
    if (created) return this.took(mine, created);
    const current = await this.store.stat(this.key);
    if (!current) return this.tryAcquire(record); // released meanwhile
    const holder = decode(await this.store.read(this.key));
    if (this.seen?.tag !== current.tag) this.seen = { tag: current.tag, since: this.now() };
    const stale = (holder !== null && this.options.isDead?.(holder)) || this.now() - this.seen.since >= this.ttlMs;
    if (!stale) return { acquired: false, holder };
    const taken = await this.store.replaceIfMatch(this.key, encode(mine), current.tag);
    return taken ? this.took(mine, taken) : { acquired: false, holder };
  }

  private took(record: ObjectLeaseRecord, stored: StoredObject): LeaseAttempt {
    this.held = { record, tag: stored.tag };
    this.seen = undefined;
    return { acquired: true };
  }

  /** Renews the lease; false when it was lost (taken over after this process went silent too long). */
  async renew(): Promise<boolean> {
    if (!this.held) return false;
    const record = { ...this.held.record, renewals: this.held.record.renewals + 1 };
    const renewed = await this.store.replaceIfMatch(this.key, encode(record), this.held.tag);
    this.held = renewed ? { record, tag: renewed.tag } : undefined;
    return renewed !== undefined;
  }

  /** Gives the lease up, unless another holder has it by now. */
  async release(): Promise<void> {
    if (!this.held) return;
    const current = await this.store.stat(this.key);
    if (current?.tag === this.held.tag) await this.store.delete(this.key);
    this.held = undefined;
  }
}
