// What a record's payload holds, so the consumer can tell that every record
// arrived, in order and whole. The producer fills byte i of every payload
// with fillerByte(i), then overwrites byte 0 with the record's index mod 256.

import { formatSize } from './report.ts';

export function fillerByte(position: number): number {
  return (position * 31 + 7) & 0xff;
}

export function outOfOrder(index: number, got: number): Error {
  return new Error(`record ${index} arrived out of order: its first byte is ${got}, expected ${index & 0xff}`);
}

/** `sum` is the batch's sum of last payload bytes; throws unless every record's was right. */
export function checkSum(label: string, sum: number, count: number, payloadBytes: number): void {
  const expected = count * fillerByte(payloadBytes - 1);
  if (sum !== expected) throw new Error(`${label} ${formatSize(payloadBytes)}: payload checksum ${sum}, expected ${expected}`);
}
