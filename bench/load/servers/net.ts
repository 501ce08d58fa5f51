// Plain Node `net` in one thread: the baseline a user writes by hand.
//
//   node bench/load/servers/net.ts --mode echo|fanout|ingest-lines|ingest-chunks [--port 0]

import { countNow, printCount } from './ingest.ts';
import { listeningPort, startNetEcho } from './net-echo.ts';
import { announceReady, exitOnStop, onStdinLine, parseServerArgs } from './protocol.ts';

const args = parseServerArgs();
const echo = await startNetEcho(args, false, () => {});
onStdinLine((line) => {
  if (line === 'count') printCount([countNow()]);
});
announceReady(listeningPort(echo.server));
exitOnStop(() => {
  // Stop accepting; the process exit ends whatever connections remain.
  echo.server.close();
});
