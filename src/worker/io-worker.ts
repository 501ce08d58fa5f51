// An I/O worker: a worker_threads thread that owns a reusePort listener and
// every connection the kernel hands it. It turns socket activity into event
// records (OPEN, DATA, CLOSE) in its event ring and acts on the commands in
// its command rings. Nobody else touches its sockets.
//
// Per connection at rest: the socket, a few typed-array entries (table,
// timing wheel) and no closure or timer: the socket handlers are shared
// functions that find their slot through a symbol property.

import { type Server, type Socket, createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectionInfo, IdPage, ShutdownReport, WorkerApi, WorkerInit } from '../shared/control.ts';
import { Doorbell } from '../shared/doorbell.ts';
import { type Framer, PushResult, createFramer } from '../shared/framing/index.ts';
import { encodeId } from '../shared/id.ts';
import { CloseCode, CloseFlag } from '../shared/records.ts';
import { expose, nodeEndpoint } from '../shared/rpc.ts';
import { StatField } from '../shared/stats.ts';
import { CloseDeadlines } from './close-deadlines.ts';
import { CommandInbox } from './command-inbox.ts';
import { ConnectionTable, SlotFlag } from './connection-table.ts';
import { EventOutbox } from './event-outbox.ts';
import { Expiry, TimingWheel } from './timing-wheel.ts';

const kSlot = Symbol('flamingo.slot');
type SlottedSocket = Socket & { [kSlot]: number };

const init = workerData as WorkerInit;
const options = init.options;
const stats = new Float64Array(init.stats);
const admission = new Int32Array(init.admission);
const ownAdmission = 1 + init.index;
const table = new ConnectionTable(init.slotStates, options.maxConnectionsPerWorker);
const pausedSlots: number[] = [];
const commands = new CommandInbox(new Doorbell(init.commandBell), init.commandRings, table, stats, { write, close: closeLocal, release: endHalfClosed });
const closeDeadlines = new CloseDeadlines(options.closeTimeoutMs, onCloseDeadline);
/** Connections whose open event is written and whose close event is not. */
let reportedOpen = 0;
const outbox = new EventOutbox(init.eventRing, new Doorbell(init.consumerBell), stats, options.eventRingBytes, {
  afterPublish: () => commands.poll(),
  onResume: resumePaused,
  onOverLimit: pauseAll,
});
const framer: Framer = createFramer(options.framing, options.maxFrameBytes, onFrame);
const buffersFrames = options.framing.kind !== 'raw';
const wheel: TimingWheel | undefined =
  options.idleTimeoutMs > 0 || (options.frameTimeoutMs > 0 && buffersFrames)
    ? new TimingWheel(options.maxConnectionsPerWorker, options.idleTimeoutMs, buffersFrames ? options.frameTimeoutMs : 0, onExpire)
    : undefined;
wheel?.start();
/** The wheel runs a frame clock: data handling must tell it when frames begin and end. */
const clocksFrames = wheel !== undefined && buffersFrames && options.frameTimeoutMs > 0;
let server: Server | undefined;
let accepting = true;
let allClosed: (() => void) | undefined;

function onConnection(raw: Socket): void {
  const socket = raw as SlottedSocket;
  if (!accepting || !admit()) {
    reject(socket);
    return;
  }
  const slot = table.allocate(socket);
  if (slot < 0) {
    release();
    reject(socket);
    return;
  }
  socket[kSlot] = slot;
  const id = encodeId(options.node, init.index, slot, table.generation(slot));
  table.ids[slot] = id;
  stats[StatField.OPENED]!++;
  stats[StatField.OPEN_NOW] = ++reportedOpen;
  if (options.noDelay) socket.setNoDelay(true);
  if (options.keepAliveMs > 0) socket.setKeepAlive(true, options.keepAliveMs);
  wheel?.add(slot);
  const family = socket.remoteFamily === 'IPv6' ? 6 : 4;
  outbox.open(id, family, socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localPort ?? 0);
  socket.on('data', onSocketData);
  socket.on('end', onSocketEnd);
  socket.on('error', onSocketError);
  socket.on('close', onSocketClose);
  // Events are waiting for ring space: a newcomer must not add a read to the
  // stash. It starts paused and resumes with the others once the stash drains.
  if (outbox.stalled) pauseSlot(slot);
}

/** Takes a place under the server-wide maxConnections cap, shared by every worker. */
function admit(): boolean {
  Atomics.add(admission, ownAdmission, 1);
  if (Atomics.add(admission, 0, 1) < options.maxConnections) return true;
  release();
  return false;
}

function release(): void {
  Atomics.sub(admission, 0, 1);
  Atomics.sub(admission, ownAdmission, 1);
}

/** A connection over a limit: accepted, closed at once, counted, never delivered. */
function reject(socket: Socket): void {
  stats[StatField.REJECTED]!++;
  socket.on('error', () => {});
  socket.destroy();
}

function onSocketData(this: SlottedSocket, chunk: Buffer): void {
  const slot = this[kSlot];
  stats[StatField.BYTES_IN]! += chunk.length;
  table.bytesIn[slot]! += chunk.length;
  if (wheel !== undefined) wheel.lastActive[slot] = wheel.now;
  const framesBefore = stats[StatField.FRAMES_IN]!;
  const result = framer.push(slot, chunk);
  if (result !== PushResult.OK) {
    closeNow(slot, result === PushResult.FRAME_TOO_LARGE ? CloseCode['frame-too-large'] : CloseCode.error);
    return;
  }
  if (clocksFrames) {
    // A frame completed in this read: what is still buffered is a new
    // frame, whose clock starts now (a steady stream never times out).
    if (stats[StatField.FRAMES_IN] !== framesBefore) wheel!.partial(slot, false);
    wheel!.partial(slot, framer.partialBytes(slot) > 0);
  }
}

function onFrame(slot: number, frame: Uint8Array): void {
  stats[StatField.FRAMES_IN]!++;
  // The event ring is full: this socket stops reading until it drains.
  if (!outbox.data(table.ids[slot]!, frame)) pauseSlot(slot);
}

function pauseSlot(slot: number): void {
  if ((table.flags[slot]! & SlotFlag.PAUSED_BY_RING) !== 0) return;
  table.flags[slot]! |= SlotFlag.PAUSED_BY_RING;
  table.sockets[slot]!.pause();
  pausedSlots.push(slot);
  stats[StatField.PAUSED_READS]!++;
}

/** The stash is over its limit: no socket of this worker may read until it drains. */
function pauseAll(): void {
  for (let slot = 0; slot < table.highWater; slot++) {
    if (table.sockets[slot] !== undefined) pauseSlot(slot);
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

/**
 * Writes one message, whole: the slowConsumer policy judges the message as
 * a whole before any of it is written, so it is never cut.
 */
function write(slot: number, socket: Socket, pieces: Buffer | readonly Buffer[], length: number): void {
  if (socket.writableLength + length > options.maxBufferedBytes) {
    // The client does not read fast enough; apply the slowConsumer policy.
    if (options.slowConsumer === 'drop') {
      stats[StatField.DROPPED_SENDS]!++;
      return;
    }
    closeNow(slot, CloseCode['slow-consumer']);
    return;
  }
  if (Array.isArray(pieces)) {
    socket.cork();
    for (const piece of pieces as readonly Buffer[]) socket.write(piece);
    socket.uncork();
  } else {
    socket.write(pieces as Buffer);
  }
  wroteSinceSample = true;
  stats[StatField.SENDS]!++;
  stats[StatField.BYTES_OUT]! += length;
  table.bytesOut[slot]! += length;
  if (wheel !== undefined) wheel.lastActive[slot] = wheel.now;
}

/** Closes after flushing what was written, within closeTimeoutMs. */
function closeLocal(slot: number, socket: Socket): void {
  table.decideClose(slot, CloseCode.local);
  table.flags[slot]! |= SlotFlag.CLOSING;
  socket.destroySoon();
  closeDeadlines.add(slot, table.generation(slot));
}

/**
 * The peer ended its side (a request, then FIN). Its close is reported now,
 * but the write side stays open: the consumer may still be answering. The
 * consumer's RELEASE (sent once it has handed the close out) ends it after
 * what was sent before is written; closeTimeoutMs bounds the wait.
 */
function onSocketEnd(this: SlottedSocket): void {
  const slot = this[kSlot];
  // A close was decided already (local, a limit, shutdown): it ends by itself.
  if (table.closeCode[slot] !== 0) return;
  table.decideClose(slot, CloseCode.peer);
  table.flags[slot]! |= SlotFlag.HALF_CLOSED;
  reportClose(slot, CloseFlag.AWAITS_RELEASE);
  closeDeadlines.add(slot, table.generation(slot));
}

/** The consumer's RELEASE: end the write side of a half-closed connection once flushed. */
function endHalfClosed(slot: number, socket: Socket): void {
  const flags = table.flags[slot]!;
  if ((flags & SlotFlag.HALF_CLOSED) === 0 || (flags & SlotFlag.CLOSING) !== 0) return;
  table.flags[slot] = flags | SlotFlag.CLOSING;
  socket.destroySoon();
}

/** closeTimeoutMs passed and the socket is still here: destroy it and count what it never took. */
function onCloseDeadline(slot: number, generation: number): void {
  const socket = table.current(slot, generation);
  if (socket === undefined) return;
  stats[StatField.ABANDONED_BYTES]! += socket.writableLength;
  table.flags[slot]! |= SlotFlag.CLOSING;
  socket.destroy();
}

/** Closes at once, abandoning unsent bytes. */
function closeNow(slot: number, code: number): void {
  const socket = table.sockets[slot];
  if (socket === undefined) return;
  table.decideClose(slot, code);
  table.flags[slot]! |= SlotFlag.CLOSING;
  socket.destroy();
}

/** Idle too long ('idle-timeout'), or an incomplete frame waited too long ('frame-timeout'). */
function onExpire(slot: number, why: number): void {
  closeNow(slot, why === Expiry.IDLE ? CloseCode['idle-timeout'] : CloseCode['frame-timeout']);
}

function onSocketError(this: SlottedSocket): void {
  table.decideClose(this[kSlot], CloseCode.error);
}

function onSocketClose(this: SlottedSocket): void {
  const slot = this[kSlot];
  if ((table.flags[slot]! & SlotFlag.REPORTED) === 0) {
    table.decideClose(slot, CloseCode.peer);
    reportClose(slot, 0);
  }
  table.release(slot);
  release();
  if (table.open === 0 && allClosed !== undefined) allClosed();
}

/** Writes the slot's one close event, with the reason decided first. */
function reportClose(slot: number, flags: number): void {
  const code = table.closeCode[slot]! - 1;
  table.flags[slot]! |= SlotFlag.REPORTED;
  // An incomplete last frame is discarded, and counted.
  if (framer.partialBytes(slot) > 0) stats[StatField.TRUNCATED_FRAMES]!++;
  framer.reset(slot);
  wheel?.remove(slot);
  outbox.close(table.ids[slot]!, code, flags);
  stats[StatField.CLOSED_BASE + code]!++;
  stats[StatField.OPEN_NOW] = --reportedOpen;
}

function connectionInfo(slot: number, generation: number): ConnectionInfo | null {
  if (!Number.isInteger(slot) || slot < 0 || slot >= table.highWater || table.generation(slot) !== generation) return null;
  const socket = table.sockets[slot];
  // Once its close event is written the id is closed, though its socket may still be flushing.
  if (socket === undefined || (table.flags[slot]! & SlotFlag.REPORTED) !== 0) return null;
  return {
    id: table.ids[slot]!,
    worker: init.index,
    address: socket.remoteAddress ?? '',
    port: socket.remotePort ?? 0,
    family: socket.remoteFamily === 'IPv6' ? 6 : 4,
    localPort: socket.localPort ?? 0,
    ageMs: Date.now() - table.openedAt[slot]!,
    bytesIn: table.bytesIn[slot]!,
    bytesOut: table.bytesOut[slot]!,
    bufferedBytes: socket.writableLength,
  };
}

function listIds(cursor: number, limit: number): IdPage {
  const ids: number[] = [];
  let slot = Math.max(0, Math.floor(cursor));
  for (; slot < table.highWater && ids.length < limit; slot++) {
    if (table.sockets[slot] !== undefined && (table.flags[slot]! & SlotFlag.REPORTED) === 0) ids.push(table.ids[slot]!);
  }
  return { ids, next: slot < table.highWater ? slot : null };
}

/** Once a second: event-loop utilisation and bytes waiting in socket buffers. */
let wroteSinceSample = false;
let lastUtilization = performance.eventLoopUtilization();
const sampler = setInterval(() => {
  const now = performance.eventLoopUtilization();
  stats[StatField.EVENT_LOOP_UTILIZATION] = performance.eventLoopUtilization(now, lastUtilization).utilization;
  lastUtilization = now;
  // Only a worker that wrote since the last sample, or still had bytes
  // buffered then, looks at its sockets: an idle server does no work here.
  if (!wroteSinceSample && stats[StatField.BUFFERED_OUT] === 0) return;
  wroteSinceSample = false;
  let buffered = 0;
  for (let slot = 0; slot < table.highWater; slot++) buffered += table.sockets[slot]?.writableLength ?? 0;
  stats[StatField.BUFFERED_OUT] = buffered;
}, 1000);
sampler.unref();

function listen(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    // Half-open: a peer's FIN must not end the socket before replies are written (see onSocketEnd).
    const listener = createServer({ allowHalfOpen: true }, onConnection);
    listener.once('error', reject);
    const listenOptions = { host: options.host, port, backlog: options.backlog, reusePort: true, ipv6Only: options.ipv6Only };
    listener.listen(listenOptions, () => {
      listener.off('error', reject);
      listener.on('error', () => {});
      server = listener;
      const address = listener.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

function stopAccepting(): Promise<void> {
  accepting = false;
  const listener = server;
  server = undefined;
  if (listener === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    // close() would also wait for every connection; the listener itself is
    // gone once close() returns, which is all this promises.
    listener.close();
    setImmediate(resolve);
  });
}

async function shutdown(drainMs: number): Promise<ShutdownReport> {
  await stopAccepting();
  commands.drain();
  wheel?.stop();
  clearInterval(sampler);
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
      stats[StatField.ABANDONED_BYTES]! += socket.writableLength;
      socket.destroy();
    }
  }, drainMs);
  await closed;
  clearTimeout(timer);
  closeDeadlines.stop();
  await outbox.whenFlushed();
  commands.close();
  return { abandonedBytes };
}

commands.start();

const api: WorkerApi = {
  listen,
  addCommandRing: (storage) => commands.add(storage),
  stopAccepting,
  shutdown,
  connectionInfo,
  listIds,
  injectFault: () => {
    setImmediate(() => {
      throw new Error(`fault injected into I/O worker ${init.index}`);
    });
  },
};
// A replacement worker starts with no connections of its own.
stats[StatField.OPEN_NOW] = 0;
expose(api, nodeEndpoint(parentPort!));
