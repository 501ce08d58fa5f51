// An I/O worker: a worker_threads thread that owns a reusePort listener and
// every connection the kernel hands it. It turns socket activity into event
// records (OPEN, DATA, CLOSE) in its event ring and acts on the commands in
// its command rings. Nobody else touches its sockets.

import { type Server, type Socket, createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { expose, nodeEndpoint } from '../shared/rpc.ts';
import type { ShutdownReport, WorkerApi, WorkerInit } from '../shared/control.ts';
import { Doorbell } from '../shared/doorbell.ts';
import { type Framer, PushResult, createFramer } from '../shared/framing.ts';
import { encodeId } from '../shared/id.ts';
import { CloseCode } from '../shared/records.ts';
import { RingWriter } from '../shared/ring.ts';
import { StatField } from '../shared/stats.ts';
import { CommandInbox } from './command-inbox.ts';
import { ConnectionTable, SlotFlag } from './connection-table.ts';
import { EventOutbox } from './event-outbox.ts';

const kSlot = Symbol('flamingo.slot');
type SlottedSocket = Socket & { [kSlot]: number };

const init = workerData as WorkerInit;
const options = init.options;
const stats = new Float64Array(init.stats);
const table = new ConnectionTable(init.slotStates, options.maxConnectionsPerWorker);
const commands = new CommandInbox(new Doorbell(init.commandBell), table, stats);
const pausedSlots: number[] = [];
const outbox = new EventOutbox(
  new RingWriter(init.eventRing, new Doorbell(init.consumerBell)),
  stats,
  () => commands.poll(),
  resumePaused,
);
const framer: Framer = createFramer(options.framing, options.maxFrameBytes, onFrame);
let server: Server | undefined;
let shuttingDown = false;
let allClosed: (() => void) | undefined;

function onConnection(raw: Socket): void {
  const socket = raw as SlottedSocket;
  const slot = shuttingDown ? -1 : table.allocate(socket);
  if (slot < 0) {
    stats[StatField.REJECTED]!++;
    socket.destroy();
    return;
  }
  socket[kSlot] = slot;
  const id = encodeId(options.node, init.index, slot, table.generation(slot));
  table.ids[slot] = id;
  stats[StatField.OPENED]!++;
  stats[StatField.OPEN_NOW] = table.open;
  if (table.highWater > stats[StatField.SLOT_HIGH_WATER]!) stats[StatField.SLOT_HIGH_WATER] = table.highWater;
  if (options.noDelay) socket.setNoDelay(true);
  const family = socket.remoteFamily === 'IPv6' ? 6 : 4;
  outbox.open(id, family, socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localPort ?? 0);
  socket.on('data', onSocketData);
  socket.on('error', onSocketError);
  socket.on('close', onSocketClose);
}

function onSocketData(this: SlottedSocket, chunk: Buffer): void {
  const slot = this[kSlot];
  stats[StatField.BYTES_IN]! += chunk.length;
  if (framer.push(slot, chunk) === PushResult.FRAME_TOO_LARGE) {
    table.decideClose(slot, CloseCode['frame-too-large']);
    table.flags[slot]! |= SlotFlag.CLOSING;
    this.destroy();
  }
}

function onFrame(slot: number, frame: Uint8Array): void {
  stats[StatField.FRAMES_IN]!++;
  if (outbox.data(table.ids[slot]!, frame)) return;
  // The event ring is full: this socket stops reading until it drains.
  if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) === 0) {
    table.flags[slot]! |= SlotFlag.PAUSED_BY_RING;
    table.sockets[slot]!.pause();
    pausedSlots.push(slot);
    stats[StatField.PAUSED_READS]!++;
  }
}

function resumePaused(): void {
  for (const slot of pausedSlots) {
    if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) === 0) continue;
    table.flags[slot]! &= ~SlotFlag.PAUSED_BY_RING;
    table.sockets[slot]?.resume();
  }
  pausedSlots.length = 0;
}

function onSocketError(this: SlottedSocket): void {
  table.decideClose(this[kSlot], CloseCode.error);
}

function onSocketClose(this: SlottedSocket): void {
  const slot = this[kSlot];
  table.decideClose(slot, CloseCode.peer);
  const code = table.closeCode[slot]! - 1;
  framer.reset(slot);
  outbox.close(table.ids[slot]!, code);
  table.release(slot);
  stats[StatField.CLOSED_BASE + code]!++;
  stats[StatField.OPEN_NOW] = table.open;
  if (table.open === 0 && allClosed !== undefined) allClosed();
}

function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const listener = createServer({ allowHalfOpen: false }, onConnection);
    listener.once('error', reject);
    listener.listen({ host: options.host, port, backlog: options.backlog, reusePort: true }, () => {
      listener.off('error', reject);
      listener.on('error', () => {});
      server = listener;
      const address = listener.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

function stopAccepting(): Promise<void> {
  shuttingDown = true;
  const listener = server;
  server = undefined;
  if (listener === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    listener.close(() => resolve());
    // close() waits for connections too; resolve once the listener is gone.
    setImmediate(resolve);
  });
}

async function shutdown(drainMs: number): Promise<ShutdownReport> {
  await stopAccepting();
  commands.drain();
  const closed = new Promise<void>((resolve) => {
    allClosed = resolve;
    if (table.open === 0) resolve();
  });
  for (let slot = 0; slot < table.highWater; slot++) {
    const socket = table.sockets[slot];
    if (socket === undefined) continue;
    table.decideClose(slot, CloseCode.shutdown);
    table.flags[slot]! |= SlotFlag.CLOSING;
    if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) !== 0) socket.resume();
    socket.destroySoon();
  }
  let abandonedBytes = 0;
  const timer = setTimeout(() => {
    for (const socket of table.sockets) {
      if (socket === undefined) continue;
      abandonedBytes += socket.writableLength;
      socket.destroy();
    }
  }, drainMs);
  await closed;
  clearTimeout(timer);
  await outbox.whenFlushed();
  commands.close();
  return { abandonedBytes };
}

for (const ring of init.commandRings) commands.add(ring);

const api: WorkerApi = {
  listen,
  addCommandRing: (storage) => commands.add(storage),
  stopAccepting,
  shutdown,
};
expose(api, nodeEndpoint(parentPort!));
