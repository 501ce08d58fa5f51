// Plain Node `net` in one thread: the baseline a user writes by hand.
//
//   node bench/load/servers/net.ts --mode echo|fanout [--port 0]

import { listeningPort, startNetEcho } from './net-echo.ts';
import { announceReady, exitOnStop, parseServerArgs } from './protocol.ts';

const args = parseServerArgs();
const echo = await startNetEcho(args, false, () => {});
announceReady(listeningPort(echo.server));
exitOnStop(() => {
  // Stop accepting; the process exit ends whatever connections remain.
  echo.server.close();
});
