import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { OpenTracker } from '../../src/main/open-tracker.ts';
import { encodeId } from '../../src/shared/id.ts';
import { CLOSE_REASONS, CloseCode } from '../../src/shared/records.ts';
import { STATS, StatField, StatsBlock, type StatWriter, closedField, createStatsStorage, readStats, statsView } from '../../src/shared/stats.ts';
import { connectMany, waitFor } from '../helpers/clients.ts';
import { EventRecorder } from '../helpers/recorder.ts';
import { faults } from '../../src/main/testing.ts';

/** Every word a figure occupies, with the writer the descriptor names. */
function ownedWords(): Map<number, StatWriter> {
  const owners = new Map<number, StatWriter>();
  const own = (word: number, writer: StatWriter): void => {
    expect(owners.has(word), `word ${word} has two figures`).toBe(false);
    owners.set(word, writer);
  };
  for (const stat of STATS) {
    if (stat.field === 'event ring') continue;
    if (stat.byReason) {
      // Each reason's count lives in the worker's block, except the closes the consumer makes up for a dead worker.
      CLOSE_REASONS.forEach((_, code) => {
        own(closedField(code), code === CloseCode['worker-exit'] ? 'consumer' : stat.writer);
      });
    } else {
      own(stat.field, stat.writer);
    }
  }
  return owners;
}

describe('each stats word has one writer', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it("every figure's word lies in its writer's block, and the blocks do not share a 64-byte line", () => {
    for (const [word, writer] of ownedWords()) {
      const block = StatsBlock[writer];
      expect(word >= block.first && word < block.end, `word ${word} outside the ${writer} block`).toBe(true);
    }
    const blocks = Object.values(StatsBlock).sort((a, b) => a.first - b.first);
    for (const block of blocks) expect(block.first % 8).toBe(0);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]!.first).toBe(blocks[i - 1]!.end);
  });

  it('every StatField word belongs to a figure', () => {
    const owned = ownedWords();
    for (const [name, word] of Object.entries(StatField)) expect(owned.has(word), name).toBe(true);
  });

  it("the consumer counts a dead worker's closes in its own word and leaves the worker's and the supervisor's words alone", () => {
    const counters = statsView(createStatsStorage());
    for (let word = 0; word < counters.length; word++) counters[word] = word;
    const before = Array.from(counters);
    const tracker = new OpenTracker(1, 8, [counters]);
    for (let slot = 0; slot < 5; slot++) tracker.opened(encodeId(0, 0, slot, 1));
    tracker.closed(encodeId(0, 0, 2, 1));
    const closed: number[] = [];
    expect(tracker.workerExited(0, (id) => closed.push(id))).toBe(4);
    expect(closed.length).toBe(4);
    const after = Array.from(counters);
    after.forEach((value, word) => {
      if (word === StatField.WORKER_EXIT_CLOSES) expect(value).toBe(before[word]! + 4);
      else expect(value, `word ${word}`).toBe(before[word]);
    });
  });

  it("reads a worker's connections as 0 while it is not running, and its other figures as they are", () => {
    const counters = statsView(createStatsStorage());
    counters[StatField.OPEN_NOW] = 7;
    counters[StatField.OPENED] = 9;
    expect(readStats(0, counters, 0, true).connections).toBe(7);
    const down = readStats(0, counters, 0, false);
    expect(down.connections).toBe(0);
    expect(down.opened).toBe(9);
  });

  it("a dead worker's connections count 0 from its death, and its replacement counts only its own", async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const recorder = new EventRecorder(s, { echo: true });
    const exited = new Promise<number>((resolve) => s.once('workerExit', resolve));
    const sockets = await connectMany(s.port, 100);
    for (const socket of sockets) socket.on('error', () => {});
    await waitFor(() => recorder.opened.size === 100, 5000, 'opens');
    const onWorker0 = s.stats().workers[0]!.connections;
    expect(onWorker0).toBeGreaterThan(0);

    await faults(s).terminate(0);
    expect(await exited).toBe(0);
    // At once, before the consumer has handed out a single worker-exit close.
    expect(s.stats().workers[0]!.connections).toBe(0);
    expect(s.stats().connections).toBe(100 - onWorker0);
    await waitFor(() => s.stats().workers[0]!.restarts === 1 && s.stats().closed['worker-exit'] === onWorker0, 5000, 'restart and closes');

    // The replacement starts after a short delay (its predecessor died young); its count starts from its own first connection.
    let fresh = 0;
    for (let attempt = 0; attempt < 100 && fresh === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      sockets.push(...(await connectMany(s.port, 10)));
      await waitFor(() => recorder.opened.size === sockets.length, 5000, 'fresh opens');
      fresh = s.stats().workers[0]!.connections;
    }
    expect(fresh).toBeGreaterThan(0);
    expect(s.stats().connections).toBe(sockets.length - onWorker0);
    for (const socket of sockets) socket.destroy();
  });
});
