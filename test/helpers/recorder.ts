// Records every open and close a server reports and checks exactly one close per open and per-connection order:
// exactly one close per open, and nothing for an id before its open or
// after its close.

import type { CloseReason, Server } from '../../src/main/index.ts';

export class EventRecorder {
  readonly opened = new Set<number>();
  readonly closed = new Map<number, CloseReason>();
  readonly violations: string[] = [];
  readonly data = new Map<number, Buffer[]>();

  constructor(server: Server, { echo = false, keepData = false } = {}) {
    server.on('open', (id) => {
      if (this.opened.has(id)) this.violations.push(`second open for ${id}`);
      this.opened.add(id);
    });
    server.on('data', (id, view) => {
      if (!this.opened.has(id) || this.closed.has(id)) this.violations.push(`data for ${id} outside open..close`);
      if (keepData) {
        const list = this.data.get(id) ?? [];
        list.push(Buffer.from(view));
        this.data.set(id, list);
      }
      if (echo) server.send(id, view);
    });
    server.on('close', (id, reason) => {
      if (!this.opened.has(id)) this.violations.push(`close before open for ${id}`);
      if (this.closed.has(id)) this.violations.push(`second close for ${id} (${this.closed.get(id)} then ${reason})`);
      this.closed.set(id, reason);
    });
  }

  reasons(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const reason of this.closed.values()) counts[reason] = (counts[reason] ?? 0) + 1;
    return counts;
  }

  /** Ids opened but not closed. */
  stillOpen(): number[] {
    return [...this.opened].filter((id) => !this.closed.has(id));
  }
}
