// The pipeline thread of examples/pipeline-thread.ts: one blocking loop that
// takes every event in order and echoes each frame. next() waits with
// Atomics.wait, so this thread needs no event loop while it runs.

import { parentPort, workerData } from 'node:worker_threads';
import { openPipeline, type PipelineHandle } from '../src/main/index.ts';

const pipe = openPipeline(workerData as PipelineHandle);
let opened = 0;
let closed = 0;
let echoed = 0;

// next() returns null once the server has shut down and every event was
// returned, so this loop ends with the server.
for (let event = pipe.next(); event !== null; event = pipe.next()) {
  switch (event.type) {
    case 'open':
      opened++;
      break;
    case 'data':
      // event.data is a view into the ring, valid until the next call to
      // next(); send() copies it into this thread's command ring at once.
      pipe.send(event.id, event.data);
      echoed++;
      break;
    case 'close':
      closed++;
      break;
  }
}

parentPort!.postMessage({ opened, closed, echoed });
