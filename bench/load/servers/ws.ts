// The `ws` package's WebSocket echo in one process: the baseline most Node
// users run (ws-echo.ts).
//
//   node bench/load/servers/ws.ts --protocol websocket [--tls] [--port 0]

import { announceReady, exitOnStop, parseServerArgs } from './protocol.ts';
import { startWsEcho } from './ws-echo.ts';

const echo = await startWsEcho(parseServerArgs('ws'));
announceReady(echo.port);
exitOnStop(() => echo.close());
