import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NextShardSlots } from '../../workers/next-shard-slots.ts';

/** Whether a reservation is granted before the microtasks queued so far have run. */
async function granted(reservation: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  return (
    (await Promise.race([reservation, new Promise((resolve) => setImmediate(() => resolve(pending)))])) !== pending
  );
}

test('one shard at a time; the next slot opens in its tail, and no third while both run', async () => {
  const slots = new NextShardSlots();
  const never = new AbortController().signal;
  assert.ok(await granted(slots.reserveSlot({}, never)), 'the first slot at once (polling for a shard)');
  const next = slots.reserveSlot({}, never);
  assert.equal(await granted(next), false, 'a second waits while the first shard runs');
  const a = slots.enter();
  assert.equal(a.place, 0);
  a.tail();
  assert.ok(await granted(next), 'the first shard in its tail: the next one may start');
  const b = slots.enter();
  assert.equal(b.place, 1, 'places in the order shards enter');
  const third = slots.reserveSlot({}, never);
  assert.equal(slots.tryReserveSlot(), null);
  a.leave();
  slots.releaseSlot();
  assert.equal(await granted(third), false, 'the first is gone, the second runs (not in its tail): no slot');
  b.tail();
  b.tail(); // told twice, counted once
  assert.ok(await granted(third), 'the second in its tail: the third may start');
  assert.equal(slots.tryReserveSlot(), null, 'two slots held: none more, tail or not');
});

test('a shard that ends without a tail (failed, cancelled) frees its slot when released', async () => {
  const slots = new NextShardSlots();
  const never = new AbortController().signal;
  await slots.reserveSlot({}, never);
  const failed = slots.enter();
  const next = slots.reserveSlot({}, never);
  failed.leave();
  failed.tail(); // after leaving: ignored
  assert.equal(await granted(next), false, 'its slot is held until the worker releases it');
  slots.releaseSlot();
  assert.ok(await granted(next));
});

test('a waiting reservation the worker no longer needs is rejected with the abort reason and holds no slot', async () => {
  const slots = new NextShardSlots();
  await slots.reserveSlot({}, new AbortController().signal);
  const abort = new AbortController();
  const waiting = slots.reserveSlot({}, abort.signal);
  abort.abort(new Error('poller stopped'));
  await assert.rejects(waiting, /poller stopped/);
  slots.releaseSlot();
  assert.notEqual(slots.tryReserveSlot(), null, 'the aborted reservation took none: one is free again');
});

test('with N shards at once, the (N+1)th opens in the tail of one of them', async () => {
  const slots = new NextShardSlots(2);
  const never = new AbortController().signal;
  assert.ok(await granted(slots.reserveSlot({}, never)));
  assert.ok(await granted(slots.reserveSlot({}, never)));
  const third = slots.reserveSlot({}, never);
  assert.equal(await granted(third), false);
  slots.enter();
  slots.enter().tail();
  assert.ok(await granted(third));
});

test('a reservation whose request was already dropped (aborted before it ran) takes no slot', async () => {
  const slots = new NextShardSlots();
  const dropped = new AbortController();
  dropped.abort(new Error('shutting down'));
  await assert.rejects(slots.reserveSlot({}, dropped.signal), /shutting down/);
  assert.notEqual(slots.tryReserveSlot(), null, 'the slot is still free');
});
