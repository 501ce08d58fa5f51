// Test-only hooks: fail an I/O worker the ways a real one can die. Not part
// of the package's API (the package exports only index.ts); the project's
// own tests import this module directly.

import { type Server, supervisorOf } from './server.ts';

export interface Faults {
  /** Makes worker `index` throw an uncaught exception on its next turn. */
  crash(worker: number): void;
  /** Terminates worker `index`'s thread from outside. */
  terminate(worker: number): Promise<void>;
}

export function faults(server: Server): Faults {
  const supervisor = supervisorOf.get(server);
  if (supervisor === undefined) throw new Error('not a Flamingo server');
  return { crash: (worker) => supervisor.crash(worker), terminate: (worker) => supervisor.terminate(worker) };
}
