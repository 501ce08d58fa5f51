// Connection ids: one safe integer per connection, so it can be stored in
// JSON, a Map, a Redis set or a log line as is. Bit layout, low to high:
//
//   bits  0..17  generation (18 bits, never 0: id 0 is never a connection)
//   bits 18..38  slot in the owning worker's connection table (21 bits)
//   bits 39..44  worker index (6 bits)
//   bits 45..52  node number, for routing across machines (8 bits)
//
// 53 bits in all, so every id is <= Number.MAX_SAFE_INTEGER. The fields are
// above bit 31, so the codec uses exact power-of-two multiplication and
// division on doubles rather than 32-bit bitwise operators.

import { FlamingoError, describe } from './errors.ts';

export const GENERATION_BITS = 18;
export const SLOT_BITS = 21;
export const WORKER_BITS = 6;
export const NODE_BITS = 8;

export const MAX_GENERATION = 2 ** GENERATION_BITS - 1;
export const MAX_SLOTS = 2 ** SLOT_BITS;
export const MAX_WORKERS = 2 ** WORKER_BITS;
export const MAX_NODES = 2 ** NODE_BITS;

const SLOT_SCALE = 2 ** GENERATION_BITS;
const WORKER_SCALE = 2 ** (GENERATION_BITS + SLOT_BITS);
const NODE_SCALE = 2 ** (GENERATION_BITS + SLOT_BITS + WORKER_BITS);

export interface IdParts {
  node: number;
  worker: number;
  slot: number;
  generation: number;
}

/** Builds an id. Callers inside the library pass checked values. */
export function encodeId(node: number, worker: number, slot: number, generation: number): number {
  return node * NODE_SCALE + worker * WORKER_SCALE + slot * SLOT_SCALE + generation;
}

export function idGeneration(id: number): number {
  return id % SLOT_SCALE;
}

export function idSlot(id: number): number {
  return Math.floor(id / SLOT_SCALE) % MAX_SLOTS;
}

export function idWorker(id: number): number {
  return Math.floor(id / WORKER_SCALE) % MAX_WORKERS;
}

export function idNode(id: number): number {
  return Math.floor(id / NODE_SCALE);
}

/** True when `id` is shaped like a connection id (it may still be stale). */
export function isWellFormedId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 && id % SLOT_SCALE !== 0;
}

/** Splits an id into its fields, or throws ERR_FLAMINGO_INVALID_ID. */
export function decodeId(id: unknown): IdParts {
  if (!isWellFormedId(id)) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `connection id must be a positive safe integer with a non-zero generation; got ${describe(id)}`);
  }
  return { node: idNode(id), worker: idWorker(id), slot: idSlot(id), generation: idGeneration(id) };
}

/** The canonical text form of an id: its decimal digits. */
export function formatId(id: number): string {
  decodeId(id);
  return String(id);
}

const DECIMAL = /^[1-9][0-9]{0,15}$/;

/** Parses the text form of an id, rejecting anything that is not one. */
export function parseId(text: unknown): number {
  if (typeof text !== 'string' || !DECIMAL.test(text)) {
    throw new FlamingoError(
      'ERR_FLAMINGO_INVALID_ID',
      `connection id text must be decimal digits without sign, spaces or leading zeros; got ${describe(text)}`,
    );
  }
  const id = Number(text);
  if (!isWellFormedId(id)) {
    throw new FlamingoError('ERR_FLAMINGO_INVALID_ID', `connection id text must name a safe integer with a non-zero generation; got ${describe(text)}`);
  }
  return id;
}

/** The generation that follows `generation` in a slot; skips 0. */
export function nextGeneration(generation: number): number {
  return generation >= MAX_GENERATION ? 1 : generation + 1;
}
