// The I/O worker thread's entry: build the worker from the data the
// supervisor gave this thread, start it, and answer the control plane.
// What a worker is and does: io-worker-core.ts.

import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerApi, WorkerInit } from '../shared/control.ts';
import { expose, nodeEndpoint } from '../shared/rpc.ts';
import { IoWorker } from './io-worker-core.ts';

const worker = new IoWorker(workerData as WorkerInit);
worker.start();
expose(worker satisfies WorkerApi, nodeEndpoint(parentPort!));
