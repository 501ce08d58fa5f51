// Framer throughput: MB/s and frames/s for every framer, with small (64 B)
// and large (16 KiB) frames, fed in 64 KiB reads as a socket would deliver
// them. Each framing runs as the worker runs it: a built-in protocol behind
// the worker's protocol driver (guarded read, host.deliver), delivering to a
// sink that copies each frame out as the event outbox does. The raw framer
// is the baseline measured in the same run. Run with `npm run bench` (after
// the ring bench) or on its own:
//   node_modules/.bin/node bench/framing.bench.ts

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Bench } from 'tinybench';
import type { FramingSpec } from '../src/shared/framing/index.ts';
import { encodeLengthPrefixed } from '../src/shared/framing/length-prefix.ts';
import { framingProtocol } from '../src/shared/framing/protocol.ts';
import { STATS_WORDS } from '../src/shared/stats.ts';
import { ProtocolDriver } from '../src/worker/protocols/driver.ts';

const READ_BYTES = 64 * 1024;
const STREAM_BYTES = 8 * 1024 * 1024;
const TIME_MS = Number(process.env.FLAMINGO_BENCH_TIME_MS ?? 1000);

interface Config {
  name: string;
  spec: FramingSpec;
  encode: (payload: Buffer) => Buffer;
}

const configs: Config[] = [
  { name: 'raw', spec: { kind: 'raw' }, encode: (p) => p },
  {
    name: 'delimiter \\n',
    spec: { kind: 'delimiter', delimiter: new Uint8Array([10]), keepDelimiter: true },
    encode: (p) => Buffer.concat([p, Buffer.from('\n')]),
  },
  {
    name: 'delimiter \\r\\n, stripped',
    spec: { kind: 'delimiter', delimiter: new Uint8Array([13, 10]), keepDelimiter: false },
    encode: (p) => Buffer.concat([p, Buffer.from('\r\n')]),
  },
  {
    name: 'length-prefix 4 BE',
    spec: { kind: 'length-prefix', lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false, keepHeader: true },
    encode: (p) => encodeLengthPrefixed({ lengthBytes: 4, littleEndian: false, lengthIncludesHeader: false }, p),
  },
  {
    name: 'length-prefix 2 LE, stripped',
    spec: { kind: 'length-prefix', lengthBytes: 2, littleEndian: true, lengthIncludesHeader: false, keepHeader: false },
    encode: (p) => encodeLengthPrefixed({ lengthBytes: 2, littleEndian: true, lengthIncludesHeader: false }, p),
  },
];

/** A stream of frames of `frameBytes` payload (no delimiter bytes inside), cut into reads. */
function reads(config: Config, frameBytes: number): { reads: Buffer[]; frames: number; bytes: number } {
  const payload = Buffer.alloc(frameBytes, 0x61);
  const frames: Buffer[] = [];
  let bytes = 0;
  while (bytes < STREAM_BYTES) {
    const frame = config.encode(payload);
    frames.push(frame);
    bytes += frame.length;
  }
  const stream = Buffer.concat(frames);
  const cut: Buffer[] = [];
  for (let at = 0; at < stream.length; at += READ_BYTES) cut.push(stream.subarray(at, at + READ_BYTES));
  return { reads: cut, frames: frames.length, bytes: stream.length };
}

const bench = new Bench({ name: 'framers', time: TIME_MS, iterations: 5, warmupTime: 200, throws: true });
const shapes = new Map<string, { bytes: number; frames: number }>();
for (const config of configs) {
  for (const frameBytes of [64, 16 * 1024]) {
    const input = reads(config, frameBytes);
    let delivered = 0;
    let frames = 0;
    // The sink does what the worker's does: copy the frame out (into a scratch "ring").
    const ring = new Uint8Array(1024 * 1024);
    const refused = (): never => {
      throw new Error(`${config.name}: the protocol refused the stream`);
    };
    const protocol = new ProtocolDriver({
      factory: framingProtocol as never,
      options: { framing: config.spec },
      trusted: true,
      label: `built-in protocol '${config.spec.kind}'`,
      maxFrameBytes: 1024 * 1024,
      slotCount: 16,
      maxRequestBytes: 0,
      stats: new Float64Array(STATS_WORDS),
    });
    protocol.bind({
      deliver: (_slot, frame) => {
        ring.set(frame, 0);
        delivered += frame.length;
        frames++;
      },
      writeControl: refused,
      open: refused,
      close: refused,
      setTimer: refused,
      clearTimer: refused,
      awaitsOpen: () => false,
      silenced: () => false,
    });
    const name = `${config.name} | ${frameBytes === 64 ? '64 B' : '16 KiB'}`;
    // Raw framing passes each read on whole: its frames are the reads.
    shapes.set(name, { bytes: input.bytes, frames: config.spec.kind === 'raw' ? input.reads.length : input.frames });
    bench.add(name, () => {
      delivered = 0;
      frames = 0;
      for (const read of input.reads) protocol.read(1, read);
      if (config.spec.kind !== 'raw' && frames !== input.frames) throw new Error(`${name}: ${frames} frames, expected ${input.frames}`);
      if (delivered === 0) throw new Error(`${name}: nothing delivered`);
    });
  }
}

await bench.run();

const rows = bench.tasks.map((task) => {
  const result = task.result;
  if (result.state !== 'completed') throw new Error(`${task.name}: ${result.state}`);
  const shape = shapes.get(task.name)!;
  const seconds = result.latency.p50 / 1000;
  return {
    framer: task.name.split(' | ')[0]!,
    frame: task.name.split(' | ')[1]!,
    mbPerSecond: shape.bytes / seconds / 1e6,
    framesPerSecond: shape.frames / seconds,
    samples: result.latency.samplesCount,
  };
});
console.log(`\nFramer throughput, Node ${process.version}, ${availableParallelism()} cores, 64 KiB reads, median of each task`);
console.log('(raw is the copy-only baseline: each 64 KiB read passes through as one frame)');
console.log('| framer | frame | MB/s | frames/s |');
console.log('|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.framer} | ${r.frame} | ${r.mbPerSecond.toFixed(0)} | ${(r.framesPerSecond / 1e6).toFixed(2)} M |`);
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/framing.json', import.meta.url),
  `${JSON.stringify({ node: process.version, cores: availableParallelism(), rows }, null, 2)}\n`,
);
