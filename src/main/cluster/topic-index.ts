// Which of this node's own connections are subscribed to which topics. A
// node keeps no one else's subscribers: a subscription for another node's
// id travels to that node, and a publish reaches other nodes through the
// topic's channel, which a node listens on only while it has a subscriber.
//
// Each topic's ids sit in one packed Float64Array (what sendMany takes as
// is), with a Map from id to its index for O(1) removal by swapping in the
// last. The reverse side, id to topics, keeps one string for the common
// case of one topic per connection and an array only past it, so a
// connection's close can leave every topic it was in.

class Members {
  ids = new Float64Array(8);
  count = 0;
  readonly #index = new Map<number, number>();

  has(id: number): boolean {
    return this.#index.has(id);
  }

  add(id: number): void {
    if (this.count === this.ids.length) {
      const grown = new Float64Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.#index.set(id, this.count);
    this.ids[this.count++] = id;
  }

  remove(id: number): void {
    const at = this.#index.get(id);
    if (at === undefined) return;
    this.#index.delete(id);
    const last = this.ids[--this.count]!;
    if (at !== this.count) {
      this.ids[at] = last;
      this.#index.set(last, at);
    }
    // Give memory back once a topic has shrunk to a quarter of its array.
    if (this.ids.length > 64 && this.count < this.ids.length / 4) this.ids = this.ids.slice(0, this.ids.length / 2);
  }
}

export class TopicIndex {
  readonly #topics = new Map<string, Members>();
  readonly #byId = new Map<number, string | string[]>();
  #subscriptions = 0;

  /** Topics with at least one subscriber here. */
  get topics(): number {
    return this.#topics.size;
  }

  /** (topic, id) pairs held. */
  get subscriptions(): number {
    return this.#subscriptions;
  }

  /** The topics that have a subscriber here, for resubscribing after Redis comes back. */
  topicNames(): IterableIterator<string> {
    return this.#topics.keys();
  }

  /** The ids subscribed to `topic`: a view valid until the index next changes. */
  members(topic: string): Float64Array | undefined {
    const members = this.#topics.get(topic);
    return members === undefined ? undefined : members.ids.subarray(0, members.count);
  }

  has(id: number, topic: string): boolean {
    return this.#topics.get(topic)?.has(id) === true;
  }

  /** Adds the subscription; true when it is the topic's first subscriber here. */
  add(id: number, topic: string): boolean {
    let members = this.#topics.get(topic);
    const first = members === undefined;
    if (members === undefined) {
      members = new Members();
      this.#topics.set(topic, members);
    } else if (members.has(id)) {
      return false;
    }
    members.add(id);
    this.#subscriptions++;
    const held = this.#byId.get(id);
    if (held === undefined) this.#byId.set(id, topic);
    else if (typeof held === 'string') this.#byId.set(id, [held, topic]);
    else held.push(topic);
    return first;
  }

  /** Removes the subscription; true when the topic has no subscriber here any more. */
  remove(id: number, topic: string): boolean {
    const members = this.#topics.get(topic);
    if (members === undefined || !members.has(id)) return false;
    const held = this.#byId.get(id)!;
    if (typeof held === 'string') this.#byId.delete(id);
    else {
      held.splice(held.indexOf(topic), 1);
      if (held.length === 1) this.#byId.set(id, held[0]!);
    }
    return this.#drop(members, id, topic);
  }

  /** Removes every subscription of `id` (its connection closed); calls `emptied` for each topic left with no subscriber. */
  removeAll(id: number, emptied: (topic: string) => void): void {
    const held = this.#byId.get(id);
    if (held === undefined) return;
    this.#byId.delete(id);
    for (const topic of typeof held === 'string' ? [held] : held) {
      if (this.#drop(this.#topics.get(topic)!, id, topic)) emptied(topic);
    }
  }

  #drop(members: Members, id: number, topic: string): boolean {
    members.remove(id);
    this.#subscriptions--;
    if (members.count > 0) return false;
    this.#topics.delete(topic);
    return true;
  }
}
