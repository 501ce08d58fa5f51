// Tests for the per-worker timing wheel (src/worker/timing-wheel.ts): idle
// and incomplete-frame timeouts for every slot with one interval and no
// timer object per connection.
//
// The documented window: a timeout T fires between T and T + 3 ticks after
// the last activity (or after the incomplete frame began), plus however late
// the event loop runs the tick; activity may be stamped with a wheel.now one
// tick behind the clock.
//
// Two kinds of test. With a fake monotonic clock (performance.now mocked),
// a model of the rules is checked exactly against random schedules of
// activity, partial frames, removals and clock steps. With the real clock,
// small timeouts (tick 10 to 40 ms) and the wheel's own interval, the same
// rules are checked as the worker uses them. Real-clock bounds: never
// before T (activity is stamped right after an advance(), so the stamp is
// fresh), and never later than T + 3 ticks + LATE_MARGIN_MS, the margin for
// a late event loop on a loaded 2-core VM.

import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Expiry, TimingWheel } from '../../src/worker/timing-wheel.ts';

/** How late a loaded machine may run the wheel's interval, on top of the documented window. */
const LATE_MARGIN_MS = 400;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline) await sleep(5);
}

interface Expired {
  slot: number;
  why: number;
  at: number;
}

/** A fake monotonic clock: performance.now returns `t`. */
class FakeClock {
  t = 1_000_000.25;
  constructor() {
    vi.spyOn(performance, 'now').mockImplementation(() => this.t);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TimingWheel.tickFor', () => {
  // [idleTimeoutMs, frameTimeoutMs, tick]
  const rows: Array<[number, number, number]> = [
    [200, 0, 20],
    [0, 200, 20],
    [300, 150, 15],
    [150, 300, 15],
    [100, 0, 10],
    [99, 0, 10],
    [155, 0, 15],
    [199, 0, 19],
    [0, 9_999, 999],
    [50, 0, 10],
    [1, 0, 10],
    [0, 1, 10],
    [10_000, 0, 1000],
    [10_009, 0, 1000],
    [20_000, 0, 1000],
    [0, 30_000, 1000],
    [60_000, 30_000, 1000],
    [86_400_000, 86_400_000, 1000],
    [0, 0, 1000],
  ];
  it.each(rows)('idle %i ms, frame %i ms: tick %i ms', (idle, frame, tick) => {
    expect(TimingWheel.tickFor(idle, frame)).toBe(tick);
    expect(new TimingWheel(1, idle, frame, () => {}).tickMs).toBe(tick);
  });

  it('is a tenth of the shortest timeout that is set, floored, clamped to 10 .. 1000 ms, for any timeouts', () => {
    const timeout = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 12_000 }), // where the tick is neither clamp
      fc.integer({ min: 1, max: 86_400_000 }),
    );
    fc.assert(
      fc.property(timeout, timeout, (idle, frame) => {
        const tick = TimingWheel.tickFor(idle, frame);
        expect(Number.isInteger(tick)).toBe(true);
        expect(tick).toBeGreaterThanOrEqual(10);
        expect(tick).toBeLessThanOrEqual(1000);
        const set = [idle, frame].filter((t) => t > 0);
        const expected = set.length === 0 ? 1000 : Math.min(1000, Math.max(10, Math.floor(Math.min(...set) / 10)));
        expect(tick).toBe(expected);
        // At least ten ticks fit in every timeout from 100 ms to 10 s.
        for (const t of set) if (t >= 100 && t <= 10_000) expect(t / tick).toBeGreaterThanOrEqual(10);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('TimingWheel on a fake clock: the rules, exactly', () => {
  it('an idle slot expires with IDLE between T and T + 3 ticks after it was added, whatever the phase within a tick', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), fc.boolean(), (idle, phase, fresh) => {
        const clock = new FakeClock();
        const expired: Expired[] = [];
        const wheel = new TimingWheel(4, idle, 0, (slot, why) => expired.push({ slot, why, at: clock.t }));
        const tick = wheel.tickMs;
        clock.t += 5 * tick + phase * tick;
        // A fresh stamp (advance first), or one a tick behind the clock, as the worker's may be.
        if (fresh) wheel.advance();
        else {
          clock.t -= tick;
          wheel.advance();
          clock.t += tick;
        }
        const addedAt = clock.t;
        wheel.add(2);
        const step = tick / 8;
        while (expired.length === 0 && clock.t - addedAt < idle + 10 * tick) {
          clock.t += step;
          wheel.advance();
        }
        expect(expired.map((e) => [e.slot, e.why])).toEqual([[2, Expiry.IDLE]]);
        const after = expired[0]!.at - addedAt;
        expect(after).toBeGreaterThanOrEqual(idle);
        expect(after).toBeLessThanOrEqual(idle + 3 * tick + step);
      }),
      { numRuns: 300 },
    );
  });

  it('a one-day idle timeout on a 1 s tick fires between T and T + 3 s', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const day = 86_400_000;
    const wheel = new TimingWheel(2, day, 0, (slot, why) => expired.push({ slot, why, at: clock.t }));
    expect(wheel.tickMs).toBe(1000);
    clock.t += 123_456;
    wheel.advance();
    const addedAt = clock.t;
    wheel.add(1);
    while (expired.length === 0 && clock.t - addedAt < day + 10_000) {
      clock.t += 1000;
      wheel.advance();
    }
    expect(expired.length).toBe(1);
    expect(expired[0]!.at - addedAt).toBeGreaterThanOrEqual(day);
    expect(expired[0]!.at - addedAt).toBeLessThanOrEqual(day + 3000 + 1000);
  });

  it('a late advance() catches up on every bucket it missed: slots due long ago expire at once, each once', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const wheel = new TimingWheel(100, 200, 0, (slot, why) => expired.push({ slot, why, at: clock.t }));
    for (let slot = 0; slot < 100; slot++) {
      wheel.add(slot);
      clock.t += 3; // 100 slots spread over 15 ticks
      wheel.advance();
    }
    clock.t += 10 * 200; // far more than the wheel has buckets
    wheel.advance();
    expect(expired.map((e) => e.slot).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(expired.every((e) => e.why === Expiry.IDLE)).toBe(true);
    clock.t += 10 * 200;
    wheel.advance();
    expect(expired.length).toBe(100);
  });

  it('the frame clock: partial(slot, true) again does not restart it; partial(false) then partial(true) does', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const wheel = new TimingWheel(8, 0, 200, (slot, why) => expired.push({ slot, why, at: clock.t }));
    const tick = wheel.tickMs;
    wheel.add(1);
    wheel.add(2);
    const began = clock.t;
    wheel.partial(1, true);
    wheel.partial(2, true);
    const run = (ms: number): void => {
      for (const end = clock.t + ms; clock.t < end; ) {
        clock.t += 1;
        wheel.advance();
        // Both still mid-frame after every read; slot 2 completes a frame and starts another each time.
        if (expired.every((e) => e.slot !== 1)) wheel.partial(1, true);
        if (expired.every((e) => e.slot !== 2)) {
          wheel.partial(2, false);
          wheel.partial(2, true);
        }
      }
    };
    run(200 + 4 * tick);
    expect(expired.map((e) => [e.slot, e.why])).toEqual([[1, Expiry.FRAME]]);
    expect(expired[0]!.at - began).toBeGreaterThanOrEqual(200);
    expect(expired[0]!.at - began).toBeLessThanOrEqual(200 + 3 * tick + 1);
    run(1000);
    expect(expired.length).toBe(1);
  });

  it('a frame deadline earlier than the idle deadline moves the slot to an earlier bucket, and expires with FRAME', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const wheel = new TimingWheel(4, 10_000, 500, (slot, why) => expired.push({ slot, why, at: clock.t }));
    const tick = wheel.tickMs;
    wheel.add(0);
    wheel.add(1);
    clock.t += 1000;
    wheel.advance();
    const began = clock.t;
    wheel.partial(0, true);
    while (expired.length === 0 && clock.t - began < 5000) {
      clock.t += 10;
      wheel.advance();
      wheel.lastActive[0] = wheel.now; // busy, but the frame never completes
    }
    expect(expired.map((e) => [e.slot, e.why])).toEqual([[0, Expiry.FRAME]]);
    expect(expired[0]!.at - began).toBeGreaterThanOrEqual(500);
    expect(expired[0]!.at - began).toBeLessThanOrEqual(500 + 3 * tick + 10);
    // Slot 1, idle since the start, goes at its idle deadline.
    while (expired.length === 1 && clock.t < began + 20_000) {
      clock.t += 100;
      wheel.advance();
    }
    expect(expired.map((e) => [e.slot, e.why])).toEqual([
      [0, Expiry.FRAME],
      [1, Expiry.IDLE],
    ]);
  });

  it('idle timeout 0: a slot with no partial frame is never scheduled, however long it waits', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const wheel = new TimingWheel(1000, 0, 100, (slot, why) => expired.push({ slot, why, at: clock.t }));
    for (let slot = 0; slot < 1000; slot++) wheel.add(slot);
    wheel.partial(7, true);
    wheel.partial(8, true);
    wheel.partial(8, false);
    for (let i = 0; i < 10_000; i++) {
      clock.t += 10;
      wheel.advance();
    }
    expect(expired.map((e) => [e.slot, e.why])).toEqual([[7, Expiry.FRAME]]);
  });

  it('both timeouts 0: add, partial and advance do nothing, and nothing expires', () => {
    const clock = new FakeClock();
    const expired: Expired[] = [];
    const wheel = new TimingWheel(10, 0, 0, (slot, why) => expired.push({ slot, why, at: clock.t }));
    for (let slot = 0; slot < 10; slot++) {
      wheel.add(slot);
      wheel.partial(slot, true);
    }
    clock.t += 1e9;
    wheel.advance();
    wheel.remove(3);
    expect(expired).toEqual([]);
  });

  it('50,000 slots each expire exactly once, with IDLE, within the window of their own add', () => {
    const clock = new FakeClock();
    const n = 50_000;
    const count = new Uint8Array(n);
    const addedAt = new Float64Array(n);
    const late: number[] = [];
    let bad = 0;
    const idle = 2000;
    const wheel = new TimingWheel(n, idle, 0, (slot, why) => {
      count[slot]!++;
      const after = clock.t - addedAt[slot]!;
      if (why !== Expiry.IDLE || after < idle) bad++;
      if (after > idle + 3 * wheel.tickMs + 7) late.push(slot);
    });
    // Added over 3.5 s, 100 every 7 ms, so they land in many different buckets.
    for (let slot = 0; slot < n; slot++) {
      if (slot % 100 === 0) {
        clock.t += 7;
        wheel.advance();
      }
      addedAt[slot] = clock.t;
      wheel.add(slot);
    }
    for (let i = 0; i < 2000; i++) {
      clock.t += 7;
      wheel.advance();
    }
    expect(bad).toBe(0);
    expect(late).toEqual([]);
    expect(count.every((c) => c === 1)).toBe(true);
  });

  /**
   * A model of the rules, checked against random schedules. Activity is
   * stamped with wheel.now as the worker does, with the stamp at most one
   * tick behind the clock (the interval keeps up). The model keeps the real
   * time of every stamp and checks each expiry against it: never before the
   * timeout, never later than 3 ticks after it, once, only for a live slot,
   * with the right reason.
   */
  it('model: random schedules of add, activity, partial frames, remove and clock steps obey the window for every slot', () => {
    const SLOTS = 4;
    const timeout = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3000 }) });
    const op = fc.oneof(
      { weight: 24, arbitrary: fc.record({ kind: fc.constant('step' as const), ms: fc.nat(1000) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('jump' as const), ms: fc.nat(8000) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), slot: fc.nat(SLOTS - 1) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('touch' as const), slot: fc.nat(SLOTS - 1) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('partial' as const), slot: fc.nat(SLOTS - 1), started: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), slot: fc.nat(SLOTS - 1) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('lag' as const) }) },
    );
    fc.assert(
      fc.property(
        timeout.chain((idle) => (idle === 0 ? fc.integer({ min: 1, max: 3000 }) : timeout).map((frame) => [idle, frame] as const)),
        // fast-check 4 keeps arrays to about 10 items unless told otherwise.
        fc.array(op, { minLength: 50, maxLength: 500, size: 'max' }),
        ([idle, frame], ops) => {
          const clock = new FakeClock();
          const start = clock.t;
          const live = new Array<boolean>(SLOTS).fill(false);
          const stampedAt = new Array<number>(SLOTS).fill(0);
          const partialAt = new Array<number | undefined>(SLOTS).fill(undefined);
          const expiredNow: number[] = [];
          const failures: string[] = [];
          const wheel = new TimingWheel(SLOTS, idle, frame, (slot, why) => {
            const t = clock.t;
            if (!live[slot]) failures.push(`slot ${slot} expired while not live`);
            if (why === Expiry.IDLE) {
              if (!(idle > 0 && t - stampedAt[slot]! >= idle)) failures.push(`slot ${slot} IDLE after ${t - stampedAt[slot]!} ms of ${idle}`);
            } else if (why === Expiry.FRAME) {
              const since = partialAt[slot];
              if (!(frame > 0 && since !== undefined && t - since >= frame))
                failures.push(`slot ${slot} FRAME after ${since === undefined ? 'no partial' : t - since} ms of ${frame}`);
            } else failures.push(`slot ${slot} unknown reason ${why}`);
            live[slot] = false;
            expiredNow.push(slot);
          });
          const tick = wheel.tickMs;
          // While lagging, the clock moves without advance(), so stamps fall up to a tick behind it.
          let lagging = false;
          const currentTick = (): number => 1 + Math.floor((clock.t - start) / tick);
          const advance = (): void => {
            wheel.advance();
            // The worker closes an expired connection, and its close handler removes the slot.
            for (const slot of expiredNow.splice(0)) wheel.remove(slot);
            // Nothing is overdue: every live slot past its window has expired.
            for (let slot = 0; slot < SLOTS; slot++) {
              if (!live[slot]) continue;
              if (idle > 0 && clock.t - stampedAt[slot]! > idle + 3 * tick)
                failures.push(`slot ${slot} idle ${clock.t - stampedAt[slot]!} ms, not expired (T ${idle}, tick ${tick})`);
              const since = partialAt[slot];
              if (frame > 0 && since !== undefined && clock.t - since > frame + 3 * tick)
                failures.push(`slot ${slot} mid-frame ${clock.t - since} ms, not expired (T ${frame}, tick ${tick})`);
            }
          };
          /** The interval keeps up: a stamp is at most one tick behind the clock. */
          const stampable = (): void => {
            if (currentTick() - wheel.now > 1) advance();
          };
          for (const o of ops) {
            switch (o.kind) {
              case 'step':
                // Small steps, so an expiry is seen close to the tick that made it.
                clock.t += (o.ms % Math.ceil(tick / 3)) + 0.25;
                if (!lagging) advance();
                break;
              case 'lag':
                lagging = !lagging;
                break;
              case 'jump':
                clock.t += o.ms;
                advance();
                break;
              case 'add':
                stampable();
                if (live[o.slot]) break;
                wheel.add(o.slot);
                live[o.slot] = true;
                stampedAt[o.slot] = clock.t;
                partialAt[o.slot] = undefined;
                break;
              case 'touch':
                stampable(); // may expire the slot: a closed connection reads nothing more
                if (!live[o.slot]) break;
                wheel.lastActive[o.slot] = wheel.now;
                stampedAt[o.slot] = clock.t;
                break;
              case 'partial':
                stampable();
                if (!live[o.slot]) break;
                wheel.partial(o.slot, o.started);
                if (!o.started) partialAt[o.slot] = undefined;
                else partialAt[o.slot] ??= clock.t;
                break;
              case 'remove':
                wheel.remove(o.slot);
                live[o.slot] = false;
                break;
            }
            if (failures.length > 0) break;
          }
          // Finally let every clock run out: every live slot with a deadline expires.
          clock.t += Math.max(idle, frame) + 4 * tick;
          advance();
          for (let slot = 0; slot < SLOTS; slot++) {
            if (live[slot] && (idle > 0 || (frame > 0 && partialAt[slot] !== undefined))) failures.push(`slot ${slot} never expired`);
          }
          expect(failures).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('remove() from the expire callback of the slot itself is harmless', () => {
    const clock = new FakeClock();
    const expired: number[] = [];
    const wheel: TimingWheel = new TimingWheel(4, 100, 0, (slot) => {
      expired.push(slot);
      wheel.remove(slot);
    });
    wheel.add(0);
    wheel.add(1);
    wheel.add(2);
    clock.t += 1000;
    wheel.advance();
    expect(expired.sort()).toEqual([0, 1, 2]);
  });

  // The worker removes a slot from its socket's 'close' handler, which Node
  // runs after destroy() returns, so today no expire callback removes another
  // slot. One that does must still find the bucket's list consistent (the
  // wheel once captured the next slot before calling out, so a slot removed
  // by the callback was expired anyway, or put back on the wheel).
  it('remove() of other slots of the same bucket, from inside an expire callback, stops their expiry', () => {
    const clock = new FakeClock();
    const expired: number[] = [];
    const wheel: TimingWheel = new TimingWheel(4, 100, 0, (slot) => {
      expired.push(slot);
      // The first one to expire takes the others with it.
      if (expired.length === 1) for (const other of [0, 1, 2]) if (other !== slot) wheel.remove(other);
    });
    wheel.add(0);
    wheel.add(1);
    wheel.add(2);
    clock.t += 1000;
    wheel.advance();
    expect(expired.length).toBe(1);
  });
});

describe('TimingWheel on the real clock, with its own interval', () => {
  let wheel: TimingWheel | undefined;
  afterEach(() => {
    wheel?.stop();
    wheel = undefined;
  });

  /** add() right after an advance(), so the stamp is the clock's own tick. */
  function addFresh(w: TimingWheel, slot: number): number {
    w.advance();
    w.add(slot);
    return performance.now();
  }

  it('a slot with no activity expires with IDLE no earlier than the timeout and no later than 3 ticks (+ margin) after', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(16, 200, 0, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    expect(w.tickMs).toBe(20);
    w.start();
    // Twelve slots added at different phases of the tick.
    const addedAt: number[] = [];
    for (let slot = 0; slot < 12; slot++) {
      addedAt.push(addFresh(w, slot));
      await sleep(7);
    }
    await until(() => expired.length >= 12, 200 + 3 * 20 + LATE_MARGIN_MS + 200);
    await sleep(3 * w.tickMs);
    expect(expired.map((e) => e.slot).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    for (const e of expired) {
      expect(e.why).toBe(Expiry.IDLE);
      const after = e.at - addedAt[e.slot]!;
      expect(after, `slot ${e.slot}`).toBeGreaterThanOrEqual(200);
      expect(after, `slot ${e.slot}`).toBeLessThanOrEqual(200 + 3 * 20 + LATE_MARGIN_MS);
    }
  });

  it('a slot touched regularly (lastActive[slot] = wheel.now) never expires; an untouched one beside it does', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(4, 400, 0, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    w.start();
    addFresh(w, 0);
    addFresh(w, 1);
    const toucher = setInterval(() => {
      w.lastActive[0] = w.now;
    }, 20);
    try {
      await sleep(1200);
    } finally {
      clearInterval(toucher);
    }
    expect(expired.map((e) => [e.slot, e.why])).toEqual([[1, Expiry.IDLE]]);
  });

  it('remove(slot) prevents expiry, at once or later; the slots beside it still expire', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(8, 100, 0, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    w.start();
    for (let slot = 0; slot < 6; slot++) addFresh(w, slot);
    w.remove(1);
    await sleep(50);
    w.remove(3);
    w.remove(3); // twice is harmless
    w.remove(7); // never added: harmless
    await until(() => expired.length >= 4, 100 + 3 * 10 + LATE_MARGIN_MS);
    await sleep(100);
    expect(expired.map((e) => e.slot).sort()).toEqual([0, 2, 4, 5]);
  });

  it('frame timeout: partial(slot, true) expires with FRAME even while the slot is active; partial(slot, false) cancels it', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(8, 1000, 200, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    expect(w.tickMs).toBe(20);
    w.start();
    for (const slot of [0, 1, 2]) addFresh(w, slot);
    w.advance();
    w.partial(0, true); // a dribbler: active, but its frame never completes
    w.partial(1, true); // completes its frame after 100 ms
    const began = performance.now();
    const toucher = setInterval(() => {
      for (const slot of [0, 1, 2]) w.lastActive[slot] = w.now;
      if (performance.now() - began >= 100) w.partial(1, false);
    }, 20);
    try {
      await sleep(700);
    } finally {
      clearInterval(toucher);
    }
    expect(expired.map((e) => [e.slot, e.why])).toEqual([[0, Expiry.FRAME]]);
    const after = expired[0]!.at - began;
    expect(after).toBeGreaterThanOrEqual(200);
    expect(after).toBeLessThanOrEqual(200 + 3 * 20 + LATE_MARGIN_MS);
  });

  it('with idle timeout 0 and a frame timeout, only slots with a partial frame expire, each once, with FRAME', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(100, 0, 100, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    expect(w.tickMs).toBe(10);
    w.start();
    for (let slot = 0; slot < 100; slot++) addFresh(w, slot);
    const partial = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38];
    for (const slot of partial) w.partial(slot, true);
    await until(() => expired.length >= partial.length, 100 + 3 * 10 + LATE_MARGIN_MS);
    await sleep(300);
    expect(expired.map((e) => e.slot).sort((a, b) => a - b)).toEqual([...partial].sort((a, b) => a - b));
    expect(expired.every((e) => e.why === Expiry.FRAME)).toBe(true);
  });

  it('50,000 slots each expire exactly once, with IDLE, within the window', async () => {
    const n = 50_000;
    const count = new Uint8Array(n);
    let early = 0;
    let last = 0;
    let addedAt = 0;
    const w = (wheel = new TimingWheel(n, 200, 0, (slot, why) => {
      count[slot]!++;
      const now = performance.now();
      if (why !== Expiry.IDLE || now - addedAt < 200) early++;
      last = Math.max(last, now);
    }));
    w.start();
    w.advance();
    const first = performance.now();
    addedAt = first;
    // Stamps are fresh to within the time between two advance() calls.
    for (let slot = 0; slot < n; slot++) {
      if (slot % 1000 === 0) w.advance();
      w.add(slot);
    }
    const addTook = performance.now() - first;
    let expiredCount = 0;
    await until(() => (expiredCount = count.reduce((a, c) => a + c, 0)) >= n, 200 + 3 * 20 + LATE_MARGIN_MS + addTook + 500);
    await sleep(3 * w.tickMs);
    expect(expiredCount).toBe(n);
    expect(count.every((c) => c === 1)).toBe(true);
    expect(early).toBe(0);
    expect(last - first).toBeLessThanOrEqual(200 + 3 * 20 + LATE_MARGIN_MS + addTook);
  });

  it('start() twice makes one interval and stop() ends it; a later advance() catches up', async () => {
    const expired: Expired[] = [];
    const w = (wheel = new TimingWheel(2, 100, 0, (slot, why) => expired.push({ slot, why, at: performance.now() })));
    addFresh(w, 0);
    w.start();
    w.start();
    w.stop();
    await sleep(100 + 8 * w.tickMs);
    expect(expired).toEqual([]);
    w.advance();
    expect(expired.map((e) => e.slot)).toEqual([0]);
  });

  it('the interval does not keep the process alive (it is unref’d)', () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const w = (wheel = new TimingWheel(1, 100, 0, () => {}));
    w.start();
    expect(timers()).toBe(before);
  });
});
