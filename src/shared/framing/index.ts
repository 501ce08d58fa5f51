// Framers cut a connection's byte stream into frames. They run in the I/O
// worker, one framer per worker with per-slot state, and hand each whole
// frame to a sink that copies it into the event ring at once, so a frame
// may be a view into a buffer the framer reuses.
//
// No per-connection state at rest: a connection owns a partial-frame buffer
// only while a frame is incomplete. Complete frames inside one read are
// passed on as views of that read, without a copy.

import { DelimiterFramer } from './delimiter.ts';
import type { FrameSink, Framer, FramingSpec } from './framer.ts';
import { LengthPrefixFramer } from './length-prefix.ts';
import { RawFramer } from './raw.ts';

export type { FrameSink, Framer, FramingSpec, LengthPrefixSpec } from './framer.ts';
export { PushResult } from './framer.ts';
export { encodeLengthPrefixed } from './length-prefix.ts';

export function createFramer(spec: FramingSpec, maxFrameBytes: number, sink: FrameSink): Framer {
  switch (spec.kind) {
    case 'raw':
      return new RawFramer(maxFrameBytes, sink);
    case 'delimiter':
      return new DelimiterFramer(spec.delimiter, spec.keepDelimiter, maxFrameBytes, sink);
    case 'length-prefix':
      return new LengthPrefixFramer(spec, maxFrameBytes, sink);
  }
}
