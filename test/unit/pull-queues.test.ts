// The pull queues as a part: per-connection order across kinds, kinds that
// nobody pulls, the release hook for half-closed connections, and the end.

import { describe, expect, it } from 'vitest';
import { PullKind, PullQueues } from '../../src/main/pull-queues.ts';

const open = (id: number) => ({ id, address: '127.0.0.1', port: 1, family: 4 as const, localPort: 2 });
const data = (id: number, text: string) => ({ id, data: Buffer.from(text), text: false });
const close = (id: number) => ({ id, reason: 'peer' as const });

describe('PullQueues', () => {
  it("a connection's data is handed out only after its open was taken, and its close after its data", async () => {
    const queues = new PullQueues(Infinity, true);
    queues.deliver(PullKind.OPEN, 1, open(1));
    queues.deliver(PullKind.DATA, 1, data(1, 'a'));
    queues.deliver(PullKind.CLOSE, 1, close(1));
    queues.deliver(PullKind.DATA, 2, data(2, 'b'));
    // Connection 2 is not held up by connection 1.
    expect(queues.tryTake(PullKind.DATA)).toMatchObject({ id: 2 });
    expect(queues.tryTake(PullKind.DATA)).toBeUndefined();
    expect(queues.tryTake(PullKind.CLOSE)).toBeUndefined();
    expect(queues.tryTake(PullKind.OPEN)).toMatchObject({ id: 1 });
    expect(queues.tryTake(PullKind.CLOSE)).toBeUndefined();
    expect(queues.tryTake(PullKind.DATA)).toMatchObject({ id: 1 });
    expect(queues.tryTake(PullKind.CLOSE)).toMatchObject({ id: 1 });
  });

  it('a kind nobody pulls is counted and let go, and a half-closed connection is released when its close goes', () => {
    const queues = new PullQueues(Infinity);
    const released: number[] = [];
    queues.onRelease = (id) => released.push(id);
    void queues.recv(PullKind.DATA);
    queues.deliver(PullKind.OPEN, 5, open(5));
    queues.deliver(PullKind.DATA, 5, data(5, 'x'));
    queues.deliver(PullKind.CLOSE, 5, close(5), true);
    expect(queues.unconsumed).toBe(2);
    expect(released).toEqual([5]);
  });

  it('end() resolves waiting pulls with null, hands out what is queued first, then null', async () => {
    const queues = new PullQueues(Infinity);
    const waiting = queues.recv(PullKind.OPEN);
    void queues.recv(PullKind.DATA);
    queues.deliver(PullKind.DATA, 9, data(9, 'q'));
    queues.deliver(PullKind.DATA, 9, data(9, 'r'));
    queues.end();
    expect(await waiting).toBeNull();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await queues.recv(PullKind.DATA)).toMatchObject({ id: 9 });
    expect(await queues.recv(PullKind.DATA)).toBeNull();
  });
});
