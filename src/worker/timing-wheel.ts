// Idle and incomplete-frame timeouts for every connection of a worker, and
// one protocol timer per connection (a handshake deadline, a heartbeat),
// with no timer object per connection (undici's "fast timers" idea, on
// typed arrays): one interval per worker, coarse ticks, and a wheel of
// buckets holding slots in intrusive doubly-linked lists.
//
// Activity costs one store (lastActive[slot] = now). A slot sits in the
// bucket of the deadline computed when it was inserted; when that bucket
// comes round, the slot's real deadline is computed again and it either
// expires or moves to its new bucket. So an idle connection is looked at
// about once per timeout, and a tick touches only its own bucket.
//
// Resolution: tick = min(timeouts) / 10, clamped to 10 ms .. 1 s, and at
// most timerTickMs when protocol timers are on. A timeout T fires between T
// and T + 3 ticks after the last activity (or after the incomplete frame
// began, or after the protocol set its timer), plus however late the event
// loop runs the tick. A deadline further away than the wheel spans (a
// protocol's hour-long heartbeat) waits in the wheel's last bucket and is
// looked at again once per turn of the wheel.
// Activity is stamped with the tick of the last advance, which may be one
// behind the clock, so deadlines add a tick of slack (SLACK) to never fire
// early. Time comes from the monotonic clock, so a late interval callback
// catches up on every bucket it missed.

export const Expiry = { IDLE: 1, FRAME: 2, PROTOCOL: 3 } as const;

const NONE = -1;
/** Ticks added to every deadline: a stamp may lag the clock by one tick. */
const SLACK = 2;
const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;
/** Buckets a wheel with protocol timers has at least: deadlines further away are looked at once per turn. */
const MIN_TIMER_SPAN = 256;

export class TimingWheel {
  readonly tickMs: number;
  /** The current tick; starts at 1 so 0 can mean "unset". */
  now = 1;
  readonly lastActive: Uint32Array;
  readonly partialSince: Uint32Array;
  /** The tick a slot's protocol timer is due at; 0 = none. */
  readonly #timerDue: Uint32Array;
  /** 1 while the slot is between add() and remove(). */
  readonly #tracked: Uint8Array;
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

  /**
   * `timerTickMs`: above 0, protocol timers are on (setTimer) and the tick is
   * at most this long. `expire` gets Expiry.PROTOCOL for a protocol timer
   * that is due; the slot stays in the wheel for its other deadlines.
   */
  constructor(capacity: number, idleTimeoutMs: number, frameTimeoutMs: number, expire: (slot: number, why: number) => void, timerTickMs = 0) {
    const tick = TimingWheel.tickFor(idleTimeoutMs, frameTimeoutMs);
    this.tickMs = timerTickMs > 0 ? Math.min(tick, Math.max(MIN_TICK_MS, timerTickMs)) : tick;
    this.#idleTicks = idleTimeoutMs > 0 ? Math.ceil(idleTimeoutMs / this.tickMs) : 0;
    this.#frameTicks = frameTimeoutMs > 0 ? Math.ceil(frameTimeoutMs / this.tickMs) : 0;
    this.lastActive = new Uint32Array(capacity);
    this.partialSince = new Uint32Array(capacity);
    this.#timerDue = new Uint32Array(timerTickMs > 0 ? capacity : 0);
    this.#tracked = new Uint8Array(capacity);
    this.#bucketOf = new Int32Array(capacity).fill(NONE);
    this.#next = new Int32Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#heads = new Int32Array(Math.max(this.#idleTicks, this.#frameTicks, timerTickMs > 0 ? MIN_TIMER_SPAN : 0) + SLACK + 2).fill(NONE);
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
    if (this.#timerDue.length > 0) this.#timerDue[slot] = 0;
    this.#tracked[slot] = 1;
    this.#insert(slot);
  }

  remove(slot: number): void {
    this.#unlink(slot);
    this.#tracked[slot] = 0;
    if (this.#timerDue.length > 0) this.#timerDue[slot] = 0;
  }

  /**
   * The slot's protocol timer: due `delayMs` from now (never earlier),
   * replacing the one set before. Needs timerTickMs (else it throws).
   */
  setTimer(slot: number, delayMs: number): void {
    if (this.#timerDue.length === 0) throw new Error('this timing wheel has no protocol timers');
    if (this.#tracked[slot] === 0) return;
    // The stamp of now may lag the clock by a tick: one tick of slack.
    this.#timerDue[slot] = this.now + Math.ceil(delayMs / this.tickMs) + 1;
    this.#unlink(slot);
    this.#insert(slot);
  }

  clearTimer(slot: number): void {
    if (this.#timerDue.length > 0) this.#timerDue[slot] = 0;
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

  #idleDeadline(slot: number): number {
    return this.#idleTicks > 0 ? this.lastActive[slot]! + this.#idleTicks + SLACK : Infinity;
  }

  #frameDeadline(slot: number): number {
    const since = this.partialSince[slot]!;
    return this.#frameTicks > 0 && since !== 0 ? since + this.#frameTicks + SLACK : Infinity;
  }

  #timerDeadline(slot: number): number {
    const due = this.#timerDue.length > 0 ? this.#timerDue[slot]! : 0;
    return due === 0 ? Infinity : due;
  }

  #deadline(slot: number): number {
    return Math.min(this.#idleDeadline(slot), this.#frameDeadline(slot), this.#timerDeadline(slot));
  }

  #runBucket(bucket: number): void {
    // Take slots off the head one at a time, so an expire callback that
    // removes other slots (of this bucket too) finds the list consistent.
    for (let slot = this.#heads[bucket]!; slot !== NONE; slot = this.#heads[bucket]!) {
      this.#unlink(slot);
      const now = this.now;
      if (this.#idleDeadline(slot) <= now) {
        this.#expire(slot, Expiry.IDLE);
      } else if (this.#frameDeadline(slot) <= now) {
        this.#expire(slot, Expiry.FRAME);
      } else if (this.#timerDeadline(slot) <= now) {
        // A protocol timer fires once; the connection goes on, with its other deadlines.
        this.#timerDue[slot] = 0;
        this.#expire(slot, Expiry.PROTOCOL);
        if (this.#tracked[slot] === 1 && this.#bucketOf[slot] === NONE) this.#insert(slot);
      } else {
        // Its new deadline is in a later bucket: no slot comes round twice.
        this.#insert(slot);
      }
    }
  }

  #insert(slot: number): void {
    const deadline = this.#deadline(slot);
    if (deadline === Infinity) return;
    // Never the bucket being run (now), never a full turn ahead (it would be now's).
    const bucket = Math.min(Math.max(deadline, this.now + 1), this.now + this.#heads.length - 1) % this.#heads.length;
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
