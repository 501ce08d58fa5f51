// Protocol timers on the timing wheel (src/worker/timing-wheel.ts): one per
// connection, set, replaced and cleared by the protocol, costing typed-array
// entries only. With a fake monotonic clock, so every bound is exact: a
// timer set for D ms fires no earlier than D and no later than D + 3 ticks,
// whatever the wheel's span, and leaves the connection's other deadlines as
// they were.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Expiry, TimingWheel } from '../../src/worker/timing-wheel.ts';

class FakeClock {
  t = 5_000_000.5;
  constructor() {
    vi.spyOn(performance, 'now').mockImplementation(() => this.t);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

interface Fired {
  slot: number;
  why: number;
  at: number;
}

/** Advances the fake clock one millisecond at a time (bounded), ticking the wheel. */
function run(clock: FakeClock, wheel: TimingWheel, ms: number): void {
  for (let i = 0; i < ms; i++) {
    clock.t += 1;
    wheel.advance();
  }
}

function setup(idleTimeoutMs = 0, frameTimeoutMs = 0): { clock: FakeClock; wheel: TimingWheel; fired: Fired[]; started: number } {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const started = clock.t;
  const wheel = new TimingWheel(16, idleTimeoutMs, frameTimeoutMs, (slot, why) => fired.push({ slot, why, at: clock.t - started }), 100);
  return { clock, wheel, fired, started };
}

describe('protocol timers on the timing wheel', () => {
  it('the tick is at most the timer tick, and a wheel without idle or frame timeouts has one', () => {
    const { wheel } = setup();
    expect(wheel.tickMs).toBe(100);
    expect(new TimingWheel(1, 200, 0, () => {}, 100).tickMs).toBe(20);
    expect(new TimingWheel(1, 60_000, 0, () => {}, 100).tickMs).toBe(100);
  });

  it('a timer fires once, no earlier than its delay and no later than three ticks after', () => {
    const { clock, wheel, fired } = setup();
    wheel.add(3);
    wheel.setTimer(3, 1000);
    run(clock, wheel, 2000);
    expect(fired.map((f) => [f.slot, f.why])).toEqual([[3, Expiry.PROTOCOL]]);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(fired[0]!.at).toBeLessThanOrEqual(1000 + 3 * wheel.tickMs);
  });

  it('setting it again replaces it; clearing it or removing the slot cancels it', () => {
    const { clock, wheel, fired } = setup();
    for (const slot of [0, 1, 2]) {
      wheel.add(slot);
      wheel.setTimer(slot, 500);
    }
    run(clock, wheel, 200);
    wheel.setTimer(0, 1000);
    wheel.clearTimer(1);
    wheel.remove(2);
    run(clock, wheel, 2000);
    expect(fired.map((f) => f.slot)).toEqual([0]);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(1200);
    expect(fired[0]!.at).toBeLessThanOrEqual(1200 + 3 * wheel.tickMs);
  });

  it('a timer re-armed from its own callback fires again (a heartbeat), each time within its window', () => {
    const clock = new FakeClock();
    const started = clock.t;
    const at: number[] = [];
    const wheel: TimingWheel = new TimingWheel(
      4,
      0,
      0,
      (slot) => {
        at.push(clock.t - started);
        if (at.length < 5) wheel.setTimer(slot, 300);
      },
      100,
    );
    wheel.add(1);
    wheel.setTimer(1, 300);
    run(clock, wheel, 3000);
    expect(at.length).toBe(5);
    at.forEach((time, i) => {
      const previous = i === 0 ? 0 : at[i - 1]!;
      expect(time - previous).toBeGreaterThanOrEqual(300);
      expect(time - previous).toBeLessThanOrEqual(300 + 3 * wheel.tickMs);
    });
  });

  it('a delay far past the span of the wheel (an hour) still fires on time', () => {
    const { clock, wheel, fired } = setup();
    wheel.add(5);
    wheel.setTimer(5, 3_600_000);
    // Coarse steps (a tick at a time) keep the loop short: 36,000 ticks and a few more.
    for (let i = 0; i < 36_100 && fired.length === 0; i++) {
      clock.t += wheel.tickMs;
      wheel.advance();
    }
    expect(fired.length).toBe(1);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(3_600_000);
    expect(fired[0]!.at).toBeLessThanOrEqual(3_600_000 + 3 * wheel.tickMs);
  });

  it('a protocol timer leaves the idle timeout as it was: both fire, each in its own window', () => {
    const { clock, wheel, fired } = setup(2000);
    wheel.add(7);
    wheel.setTimer(7, 500);
    run(clock, wheel, 3000);
    expect(fired.map((f) => f.why)).toEqual([Expiry.PROTOCOL, Expiry.IDLE]);
    expect(fired[1]!.at).toBeGreaterThanOrEqual(2000);
    expect(fired[1]!.at).toBeLessThanOrEqual(2000 + 3 * wheel.tickMs);
  });

  it('a slot that is not in the wheel (removed, or never added) ignores setTimer', () => {
    const { clock, wheel, fired } = setup();
    wheel.setTimer(9, 100);
    wheel.add(10);
    wheel.remove(10);
    wheel.setTimer(10, 100);
    run(clock, wheel, 1000);
    expect(fired).toEqual([]);
  });

  it('a wheel without protocol timers refuses setTimer', () => {
    const wheel = new TimingWheel(2, 1000, 0, () => {});
    wheel.add(0);
    expect(() => wheel.setTimer(0, 10)).toThrow();
  });
});
