// The bound on a closing connection's last writes: closeTimeoutMs after a
// close was asked for (close(id)) or after the peer half-closed, a socket
// that has still not gone is destroyed and its unsent bytes are counted.
//
// Every deadline is the same span after the moment it was added, so they
// come due in the order they were added: a FIFO and one timer per worker
// suffice, with no timer object per connection. An entry names the slot and
// its generation; one whose connection is gone (or whose slot was reused)
// is passed over when it comes due.

export class CloseDeadlines {
  readonly #timeoutMs: number;
  readonly #expire: (slot: number, generation: number) => void;
  /** Triples: slot, generation, deadline (ms on the monotonic clock). */
  #entries: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(timeoutMs: number, expire: (slot: number, generation: number) => void) {
    this.#timeoutMs = timeoutMs;
    this.#expire = expire;
  }

  /** Entries not yet due. */
  get pending(): number {
    return (this.#entries.length - this.#head) / 3;
  }

  add(slot: number, generation: number): void {
    if (this.#stopped) return;
    this.#entries.push(slot, generation, performance.now() + this.#timeoutMs);
    if (this.#timer === undefined) this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const wait = Math.max(0, this.#entries[this.#head + 2]! - performance.now());
    this.#timer = setTimeout(this.#fire, Math.ceil(wait));
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const entries = this.#entries;
    const now = performance.now();
    while (this.#head < entries.length && entries[this.#head + 2]! <= now) {
      const slot = entries[this.#head]!;
      const generation = entries[this.#head + 1]!;
      this.#head += 3;
      this.#expire(slot, generation);
    }
    if (this.#head === entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 3 * 1024 && this.#head * 2 > entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
    if (!this.#stopped && this.#head < this.#entries.length) this.#arm();
  };
}
