// The built-in framings as protocols: each framer, fed by read() and
// delivering through the host, on the same interface a user's protocol
// module implements. A framing answers no control traffic, opens at accept,
// sends payloads as they are (frame them with server.frame()), and closes a
// connection whose stream breaks its rules: 'frame-too-large', or 'error'
// for a length header that cannot be valid.

import type { Protocol, ProtocolHost } from '../protocols/protocol.ts';
import { type Framer, type FramingSpec, PushResult } from './framer.ts';
import { createFramer } from './index.ts';

/** A framer as a protocol. The raw framer buffers nothing, so it has no pendingBytes: no frame clock runs for it. */
class FramingProtocol implements Protocol {
  readonly #framer: Framer;
  readonly #host: ProtocolHost;
  readonly pendingBytes: ((slot: number) => number) | undefined;

  constructor(spec: FramingSpec, host: ProtocolHost) {
    this.#host = host;
    // Frames go straight to the host: its deliver is the framer's sink.
    this.#framer = createFramer(spec, host.maxFrameBytes, host.deliver.bind(host));
    const framer = this.#framer;
    this.pendingBytes = spec.kind === 'raw' ? undefined : (slot) => framer.partialBytes(slot);
  }

  read(slot: number, bytes: Uint8Array): void {
    const result = this.#framer.push(slot, bytes);
    if (result !== PushResult.OK) this.#host.close(slot, result === PushResult.FRAME_TOO_LARGE ? 'frame-too-large' : 'error');
  }

  disconnect(slot: number): void {
    this.#framer.reset(slot);
  }
}

/** The factory of the built-in framing protocols: the framing spec is the server's resolved `framing`. */
export function framingProtocol(host: ProtocolHost, options: { readonly framing: FramingSpec }): Protocol {
  return new FramingProtocol(options.framing, host);
}
