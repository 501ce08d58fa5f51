// The control plane's questions about a worker's connections, answered from
// its connection table. Once its close event is written an id is closed for
// these too, though its socket may still be flushing.

import type { ConnectionInfo, IdPage } from '../shared/control.ts';
import type { ConnectionTable } from './connection-table.ts';

/** Details of the open connection with this slot and generation, or null. */
export function connectionInfo(table: ConnectionTable, worker: number, slot: number, generation: number): ConnectionInfo | null {
  if (!Number.isInteger(slot) || slot < 0 || slot >= table.highWater || table.generation(slot) !== generation) return null;
  if (!table.isOpen(slot)) return null;
  const socket = table.sockets[slot]!;
  return {
    id: table.ids[slot]!,
    worker,
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

/** Up to `limit` ids of open connections, scanning slots from `cursor`. */
export function listIds(table: ConnectionTable, cursor: number, limit: number): IdPage {
  const ids: number[] = [];
  let slot = Math.max(0, Math.floor(cursor));
  for (; slot < table.highWater && ids.length < limit; slot++) {
    if (table.isOpen(slot)) ids.push(table.ids[slot]!);
  }
  return { ids, next: slot < table.highWater ? slot : null };
}
