// Idle and incomplete-frame timeouts for every connection of a worker, with
// no timer object per connection (undici's "fast timers" idea, on typed
// arrays): one interval per worker, coarse ticks, and a wheel of buckets
// holding slots in intrusive doubly-linked lists.
//
// Activity costs one store (lastActive[slot] = now). A slot sits in the
// bucket of the deadline computed when it was inserted; when that bucket
// comes round, the slot's real deadline is computed again and it either
// expires or moves to its new bucket. So an idle connection is looked at
// about once per timeout, and a tick touches only its own bucket.
//
// Resolution: tick = min(timeouts) / 10, clamped to 10 ms .. 1 s. A timeout
// T fires between T and T + 3 ticks after the last activity (or after the
// incomplete frame began), plus however late the event loop runs the tick.
// Activity is stamped with the tick of the last advance, which may be one
// behind the clock, so deadlines add a tick of slack (SLACK) to never fire
// early. Time comes from the monotonic clock, so a late interval callback
// catches up on every bucket it missed.

export const Expiry = { IDLE: 1, FRAME: 2 } as const;

const NONE = -1;
/** Ticks added to every deadline: a stamp may lag the clock by one tick. */
const SLACK = 2;
const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;

export class TimingWheel {
  readonly tickMs: number;
  /** The current tick; starts at 1 so 0 can mean "unset". */
  now = 1;
  readonly lastActive: Uint32Array;
  readonly partialSince: Uint32Array;
  readonly #idleTicks: number;
  readonly #frameTicks: number;
  readonly #bucketOf: Int32Array;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #heads: Int32Array;
  readonly #start = performance.now();
  #processed = 1;
  #timer: NodeJS.Timeout | undefined;
  readonly #expire: (slot: number, why: number) => void;

  static tickFor(idleTimeoutMs: number, frameTimeoutMs: number): number {
    const shortest = Math.min(idleTimeoutMs || Infinity, frameTimeoutMs || Infinity);
    return Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(shortest / 10)));
  }

  constructor(capacity: number, idleTimeoutMs: number, frameTimeoutMs: number, expire: (slot: number, why: number) => void) {
    this.tickMs = TimingWheel.tickFor(idleTimeoutMs, frameTimeoutMs);
    this.#idleTicks = idleTimeoutMs > 0 ? Math.ceil(idleTimeoutMs / this.tickMs) : 0;
    this.#frameTicks = frameTimeoutMs > 0 ? Math.ceil(frameTimeoutMs / this.tickMs) : 0;
    this.lastActive = new Uint32Array(capacity);
    this.partialSince = new Uint32Array(capacity);
    this.#bucketOf = new Int32Array(capacity).fill(NONE);
    this.#next = new Int32Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#heads = new Int32Array(Math.max(this.#idleTicks, this.#frameTicks) + SLACK + 2).fill(NONE);
    this.#expire = expire;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.advance(), this.tickMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A new connection: its idle clock starts now. */
  add(slot: number): void {
    this.#unlink(slot);
    this.lastActive[slot] = this.now;
    this.partialSince[slot] = 0;
    this.#insert(slot);
  }

  remove(slot: number): void {
    this.#unlink(slot);
  }

  /** An incomplete frame began (or ended, with started = false). */
  partial(slot: number, started: boolean): void {
    if (!started) {
      this.partialSince[slot] = 0;
      return;
    }
    if (this.partialSince[slot] !== 0 || this.#frameTicks === 0) return;
    this.partialSince[slot] = this.now;
    // The frame deadline may come before the bucket the slot sits in.
    const deadline = this.now + this.#frameTicks + SLACK;
    const bucket = this.#bucketOf[slot]!;
    if (bucket === NONE || deadline % this.#heads.length !== bucket) {
      this.#unlink(slot);
      this.#insert(slot);
    }
  }

  /** Processes every bucket up to the current time. */
  advance(): void {
    const current = 1 + Math.floor((performance.now() - this.#start) / this.tickMs);
    while (this.#processed < current) {
      this.#processed++;
      this.now = this.#processed;
      this.#runBucket(this.now % this.#heads.length);
    }
  }

  #deadline(slot: number): number {
    let deadline = Infinity;
    if (this.#idleTicks > 0) deadline = this.lastActive[slot]! + this.#idleTicks + SLACK;
    const since = this.partialSince[slot]!;
    if (this.#frameTicks > 0 && since !== 0) deadline = Math.min(deadline, since + this.#frameTicks + SLACK);
    return deadline;
  }

  #runBucket(bucket: number): void {
    // Take slots off the head one at a time, so an expire callback that
    // removes other slots (of this bucket too) finds the list consistent.
    for (let slot = this.#heads[bucket]!; slot !== NONE; slot = this.#heads[bucket]!) {
      this.#unlink(slot);
      const deadline = this.#deadline(slot);
      if (deadline <= this.now) {
        const idle = this.#idleTicks > 0 && this.lastActive[slot]! + this.#idleTicks + SLACK <= this.now;
        this.#expire(slot, idle ? Expiry.IDLE : Expiry.FRAME);
      } else {
        // Its new deadline is in a later bucket: no slot comes round twice.
        this.#insert(slot);
      }
    }
  }

  #insert(slot: number): void {
    const deadline = this.#deadline(slot);
    if (deadline === Infinity) return;
    const bucket = Math.max(deadline, this.now + 1) % this.#heads.length;
    const head = this.#heads[bucket]!;
    this.#next[slot] = head;
    this.#prev[slot] = NONE;
    if (head !== NONE) this.#prev[head] = slot;
    this.#heads[bucket] = slot;
    this.#bucketOf[slot] = bucket;
  }

  #unlink(slot: number): void {
    const bucket = this.#bucketOf[slot]!;
    if (bucket === NONE) return;
    const next = this.#next[slot]!;
    const prev = this.#prev[slot]!;
    if (prev !== NONE) this.#next[prev] = next;
    else this.#heads[bucket] = next;
    if (next !== NONE) this.#prev[next] = prev;
    this.#bucketOf[slot] = NONE;
  }
}
