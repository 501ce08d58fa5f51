// A dedicated pipeline thread: echoes every data event with a blocking loop
// until the server shuts down, then reports what it saw.

import { parentPort, workerData } from 'node:worker_threads';
import { openPipeline, type PipelineHandle } from '../../src/main/index.ts';

const { handle, mode } = workerData as { handle: PipelineHandle; mode: 'next' | 'recv' };
const pipe = openPipeline(handle);
const opened = new Set<number>();
const closed = new Set<number>();
const reasons: Record<string, number> = {};
const violations: string[] = [];
let echoed = 0;

function onOpen(id: number): void {
  if (opened.has(id)) violations.push(`open twice ${id}`);
  opened.add(id);
}
function onData(id: number, data: Uint8Array): void {
  if (!opened.has(id) || closed.has(id)) violations.push(`data outside open..close ${id}`);
  pipe.send(id, data);
  echoed++;
}
function onClose(id: number, reason: string): void {
  reasons[reason] = (reasons[reason] ?? 0) + 1;
  if (!opened.has(id)) violations.push(`close before open ${id}`);
  if (closed.has(id)) violations.push(`close twice ${id}`);
  closed.add(id);
}

const deadline = Date.now() + 60_000;
if (mode === 'next') {
  for (let event = pipe.next(60_000); event !== null && Date.now() < deadline; event = pipe.next(60_000)) {
    if (event.type === 'open') onOpen(event.id);
    else if (event.type === 'data') onData(event.id, event.data);
    else onClose(event.id, event.reason);
  }
} else {
  // The Go original's three pulls, interleaved in one thread with short waits.
  let idle = 0;
  while (Date.now() < deadline) {
    for (let open = pipe.recvOpen(0); open !== null; open = pipe.recvOpen(0)) onOpen(open.id);
    const data = pipe.recvData(5);
    if (data !== null) onData(data.id, data.data);
    for (let close = pipe.recvClose(0); close !== null; close = pipe.recvClose(0)) onClose(close.id, close.reason);
    // next(0) also tells whether the stream ended: nothing returned and nothing left.
    idle = data === null ? idle + 1 : 0;
    if (idle > 0 && ended()) break;
  }
}

function ended(): boolean {
  return (workerData as { stop: Int32Array }).stop[0] === 1;
}

parentPort!.postMessage({ opened: opened.size, closed: closed.size, echoed, violations, reasons });
