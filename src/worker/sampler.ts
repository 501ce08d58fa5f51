// Once a second: the worker's event-loop utilisation, and the bytes its
// sockets hold that the kernel has not taken yet (BUFFERED_OUT).

import { StatField } from '../shared/stats.ts';
import type { ConnectionTable } from './connection-table.ts';

const SAMPLE_MS = 1000;

export class Sampler {
  readonly #stats: Float64Array;
  readonly #table: ConnectionTable;
  #timer: NodeJS.Timeout | undefined;
  #lastUtilization = performance.eventLoopUtilization();
  #lastBytesOut = 0;

  constructor(stats: Float64Array, table: ConnectionTable) {
    this.#stats = stats;
    this.#table = table;
  }

  start(): void {
    this.#lastBytesOut = this.#stats[StatField.BYTES_OUT]!;
    this.#timer ??= setInterval(this.#sample, SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  readonly #sample = (): void => {
    const stats = this.#stats;
    const now = performance.eventLoopUtilization();
    stats[StatField.EVENT_LOOP_UTILIZATION] = performance.eventLoopUtilization(now, this.#lastUtilization).utilization;
    this.#lastUtilization = now;
    // Only a worker that wrote since the last sample (its BYTES_OUT moved),
    // or still had bytes buffered then, looks at its sockets: an idle server
    // does no work here.
    const bytesOut = stats[StatField.BYTES_OUT]!;
    if (bytesOut === this.#lastBytesOut && stats[StatField.BUFFERED_OUT] === 0) return;
    this.#lastBytesOut = bytesOut;
    let buffered = 0;
    const table = this.#table;
    for (let slot = 0; slot < table.highWater; slot++) buffered += table.sockets[slot]?.writableLength ?? 0;
    stats[StatField.BUFFERED_OUT] = buffered;
  };
}
