// What every framer shares: the framing spec, the sink frames go to, the
// push result, and the Framer interface (see index.ts for the contract of
// a framer and createFramer).

export interface LengthPrefixSpec {
  readonly kind: 'length-prefix';
  /** 1, 2, 4 or 8. */
  readonly lengthBytes: number;
  readonly littleEndian: boolean;
  /** The length counts the header as well as the payload. */
  readonly lengthIncludesHeader: boolean;
  /** Deliver the header at the start of each frame (true) or the payload only. */
  readonly keepHeader: boolean;
}

export type FramingSpec =
  | { readonly kind: 'raw' }
  | { readonly kind: 'delimiter'; readonly delimiter: Uint8Array; readonly keepDelimiter: boolean }
  | LengthPrefixSpec;

export type FrameSink = (slot: number, frame: Uint8Array) => void;

/**
 * FRAME_TOO_LARGE: a frame (or a length header's announcement) exceeds
 * maxFrameBytes. BAD_HEADER: a length header that cannot be valid (shorter
 * than the header itself when the length counts the header).
 */
export const PushResult = { OK: 0, FRAME_TOO_LARGE: 1, BAD_HEADER: 2 } as const;
export type PushResult = (typeof PushResult)[keyof typeof PushResult];

export interface Framer {
  /**
   * Feeds one read of `slot`'s stream; frames go to the sink in order. After
   * FRAME_TOO_LARGE the slot yields nothing more until reset(): no frame
   * with bytes cut out of it can ever be delivered.
   */
  push(slot: number, chunk: Uint8Array): PushResult;
  /** Forgets `slot`'s partial frame (its connection closed). */
  reset(slot: number): void;
  /** Bytes buffered for `slot`'s incomplete frame. */
  partialBytes(slot: number): number;
}
