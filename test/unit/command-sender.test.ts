// The command sender as a part: real command rings read by a RingConsumer
// in the same thread. Routing by id, the overflow queue and its drain, a
// large send in pieces, the size limit, and refusals during shutdown.

import { describe, expect, it } from 'vitest';
import { CommandSender } from '../../src/main/command-sender.ts';
import { Lifecycle, LifecycleState, createLifecycleStorage } from '../../src/main/lifecycle.ts';
import { Doorbell, createDoorbellStorage } from '../../src/shared/doorbell.ts';
import { encodeId } from '../../src/shared/id.ts';
import { RecordKind, SendFlag } from '../../src/shared/records.ts';
import { createRingStorage } from '../../src/shared/ring.ts';
import { RingConsumer } from '../../src/shared/ring-consumer.ts';

function setup(workers: number, ringBytes = 4096, maxMessageBytes = 1 << 20) {
  const lifecycle = createLifecycleStorage();
  const bells = Array.from({ length: workers }, () => createDoorbellStorage());
  const rings = Array.from({ length: workers }, () => createRingStorage(ringBytes));
  const sender = new CommandSender(
    rings.map((ring, i) => ({ ring, workerBell: bells[i]! })),
    { node: 0, maxMessageBytes, lifecycle },
    false,
  );
  const received: Array<Array<{ kind: number; flags: number; id: number; length: number }>> = rings.map(() => []);
  const consumers = rings.map(
    (ring, worker) =>
      new RingConsumer(new Doorbell(bells[worker]!), [ring], {
        handle: (r) => received[worker]!.push({ kind: r.kind, flags: r.flags, id: r.id, length: r.length }),
      }),
  );
  return { sender, received, consumers, lifecycle: new Lifecycle(lifecycle) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CommandSender', () => {
  it("routes each command to its id's worker ring, in order", async () => {
    const { sender, received, consumers } = setup(2);
    const a = encodeId(0, 0, 3, 1);
    const b = encodeId(0, 1, 4, 1);
    sender.send(a, 'one');
    sender.send(b, 'two');
    sender.closeConnection(a);
    await tick();
    for (const c of consumers) c.drain();
    expect(received[0]!.map((r) => [r.kind, r.id])).toEqual([
      [RecordKind.SEND, a],
      [RecordKind.CLOSE_CONN, a],
    ]);
    expect(received[1]!.map((r) => [r.kind, r.id])).toEqual([[RecordKind.SEND, b]]);
  });

  it('a full ring: send returns false, commands queue in order, and one drain follows once all are in', async () => {
    const { sender, received, consumers } = setup(1);
    const id = encodeId(0, 0, 1, 1);
    let drains = 0;
    sender.onDrain = () => drains++;
    const results = Array.from({ length: 100 }, (_, i) => sender.send(id, new Uint8Array(100).fill(i)));
    expect(results.filter((ok) => !ok).length).toBeGreaterThan(0);
    expect(sender.queuedCommands).toBeGreaterThan(0);
    for (let turn = 0; turn < 200 && (sender.queuedCommands > 0 || drains === 0); turn++) {
      consumers[0]!.drain();
      await tick();
    }
    consumers[0]!.drain();
    expect(received[0]!.length).toBe(100);
    expect(drains).toBe(1);
  });

  it('a send larger than a record goes in pieces flagged CONTINUES but the last; over maxMessageBytes it throws', async () => {
    const { sender, received, consumers } = setup(1, 4096, 10_000);
    const id = encodeId(0, 0, 1, 1);
    const done = new Promise<void>((resolve) => {
      sender.onDrain = resolve;
    });
    sender.send(id, new Uint8Array(9000));
    for (let turn = 0; turn < 100 && sender.queuedCommands > 0; turn++) {
      consumers[0]!.drain();
      await tick();
    }
    await done;
    consumers[0]!.drain();
    const pieces = received[0]!;
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.slice(0, -1).every((p) => p.flags === SendFlag.CONTINUES)).toBe(true);
    expect(pieces.at(-1)!.flags).toBe(0);
    expect(pieces.reduce((n, p) => n + p.length, 0)).toBe(9000);
    expect(() => sender.send(id, new Uint8Array(10_001))).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_PAYLOAD_TOO_LARGE' }));
  });

  it('while the server is closing, commands are refused (false, counted); once closed they throw; release still goes while closing', async () => {
    const { sender, received, consumers, lifecycle } = setup(1);
    const id = encodeId(0, 0, 1, 1);
    lifecycle.set(LifecycleState.CLOSING);
    expect(sender.send(id, 'x')).toBe(false);
    expect(sender.sendMany([id], 'x')).toBe(false);
    expect(sender.closeConnection(id)).toBe(false);
    expect(lifecycle.refused).toBe(3);
    sender.release(id);
    await tick();
    consumers[0]!.drain();
    expect(received[0]!.map((r) => r.kind)).toEqual([RecordKind.RELEASE]);
    lifecycle.set(LifecycleState.CLOSED);
    expect(() => sender.send(id, 'x')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_SERVER_CLOSED' }));
    // Garbage ids are refused whatever the state.
    expect(() => sender.send(-1, 'x')).toThrow(expect.objectContaining({ code: 'ERR_FLAMINGO_INVALID_ID' }));
  });
});
