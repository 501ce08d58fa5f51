// Real Redis servers for tests: standalone or a small Redis Cluster, each a
// child redis-server on loopback with persistence off and its own temp dir.
// Children are killed when the test process exits, even if a test forgot to
// stop them, so no redis-server ever outlives the run.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Pid of the current process; changes on restart(). */
  readonly pid: number;
  /** SIGTERM, wait for exit; SIGKILL if it does not exit in time. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit: a crash, as far as clients can tell. */
  kill(): Promise<void>;
  /** Start again on the same port and dir (stopping it first if running); waits for PING. */
  restart(): Promise<void>;
}

export interface RedisClusterServers {
  /** 'redis://127.0.0.1:PORT' for each master, usable as seed URLs. */
  readonly urls: string[];
  readonly nodes: RedisServer[];
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_MS = 5000;
const STOP_MS = 5000;
const CLI_MS = 10_000;
const CLUSTER_READY_MS = 15_000;
// A cluster node also listens on port + 10000 for its bus, which must stay a valid port.
const CLUSTER_BUS_OFFSET = 10_000;
const MAX_CLUSTER_PORT = 65_535 - CLUSTER_BUS_OFFSET;
const START_ATTEMPTS = 5;
// Enough of a server's output to explain a failed start, without growing forever.
const OUTPUT_TAIL_BYTES = 16 * 1024;

// ---------------------------------------------------------------------------
// Keeping children from outliving the test process

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function killAllAndCleanUp(): void {
  for (const child of children) {
    if (isRunning(child)) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A dying server may still write there; a leftover temp dir is harmless.
    }
  }
  tempDirs.clear();
}

// 'exit' covers normal ends and process.exit(); signals do not run 'exit'
// handlers, so also kill on SIGTERM/SIGINT, then let the signal do what it
// would have done had we not been listening.
let guardsInstalled = false;
function installExitGuards(): void {
  if (guardsInstalled) return;
  guardsInstalled = true;
  process.on('exit', killAllAndCleanUp);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      killAllAndCleanUp();
      // Only re-raise when nobody else handles the signal: then it terminates as by default.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Finding the binaries and free ports

function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      // Not in this dir; keep looking.
    }
  }
  return false;
}

function requireBinary(name: 'redis-server' | 'redis-cli'): void {
  if (onPath(name)) return;
  const pkg = name === 'redis-server' ? 'redis-server' : 'redis-tools (redis-server depends on it)';
  throw new Error(`${name} not found: install the Debian package ${pkg} (.ci/run does)`);
}

/** Whether port can be bound on loopback right now (it may be taken again afterwards). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: HOST, port }, () => probe.close(() => resolve(true)));
  });
}

/** A port the OS just handed out for loopback, so free a moment ago. */
function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host: HOST, port: 0 }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // Ephemeral ports are often above the limit; a random one below it is as good.
    const port = 20_000 + Math.floor(Math.random() * (MAX_CLUSTER_PORT - 20_000));
    if ((await canBind(port)) && (await canBind(port + CLUSTER_BUS_OFFSET))) return port;
  }
  throw new Error('no free port pair (port, port + 10000) found on 127.0.0.1');
}

// ---------------------------------------------------------------------------
// Talking to a server without a client library

/** Sends one raw RESP request; resolves with the reply once complete(reply), or undefined on error or after ms. */
function rawRequest(port: number, request: string, complete: (reply: string) => boolean, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    // latin1 keeps one char per byte, so bulk lengths can be checked against reply.length.
    let reply = '';
    const finish = (result: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(undefined), ms);
    socket.once('error', () => finish(undefined));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (complete(reply)) finish(reply);
    });
  });
}

/** One PING; true only for +PONG within ms. */
async function pingOnce(port: number, ms: number): Promise<boolean> {
  const reply = await rawRequest(port, '*1\r\n$4\r\nPING\r\n', (r) => r.includes('\r\n'), ms);
  return reply?.startsWith('+PONG\r\n') ?? false;
}

/** The process_id the server on port reports (INFO server), to tell our server from one already on that port. */
async function servingPid(port: number, ms: number): Promise<number | undefined> {
  const bulkComplete = (r: string): boolean => {
    const header = r.match(/^\$(\d+)\r\n/);
    return header ? r.length >= header[0].length + Number(header[1]) + 2 : r.includes('\r\n');
  };
  const reply = await rawRequest(port, '*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n', bulkComplete, ms);
  const pid = reply?.match(/process_id:(\d+)/)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** Runs `redis-cli -h 127.0.0.1 -p PORT ...args`; resolves with stdout (error replies included, as redis-cli prints them). */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  requireBinary('redis-cli');
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: CLI_MS }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli -p ${port} ${args.join(' ')} failed: ${error.message}\n${stderr}${stdout}`));
      else resolve(stdout.replace(/\n$/, ''));
    });
  });
}

// ---------------------------------------------------------------------------
// One redis-server process

/** Keeps the last bytes a child wrote, to explain why it failed. */
class OutputTail {
  private text = '';
  append(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  }
  toString(): string {
    return this.text.trim() || '(no output)';
  }
}

class ManagedRedis implements RedisServer {
  readonly host = HOST;
  readonly port: number;
  readonly url: string;
  private readonly dir: string;
  private readonly extraArgs: string[];
  private child: ChildProcess | undefined;

  constructor(port: number, dir: string, extraArgs: string[]) {
    this.port = port;
    this.url = `redis://${HOST}:${port}`;
    this.dir = dir;
    this.extraArgs = extraArgs;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  /** Spawns the server and waits for PING; throws (after killing it) with its output if it does not answer. */
  async start(): Promise<void> {
    requireBinary('redis-server');
    const args = ['--port', String(this.port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', this.dir];
    const child = spawn('redis-server', [...args, ...this.extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    this.child = child;
    const output = new OutputTail();
    child.stdout!.on('data', (chunk: Buffer) => output.append(chunk));
    child.stderr!.on('data', (chunk: Buffer) => output.append(chunk));
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));

    const deadline = Date.now() + READY_MS;
    let otherPid: number | undefined;
    while (Date.now() < deadline && !spawnError && isRunning(child)) {
      // A PONG alone could come from another server already on this port while ours fails to bind.
      if (await pingOnce(this.port, 500)) {
        const pid = await servingPid(this.port, 500);
        if (pid === child.pid) return;
        if (pid !== undefined) {
          otherPid = pid;
          // Give ours a moment to exit and log why, for the error message.
          await withTimeout(exited(child), 1000);
          break;
        }
      }
      await sleep(25);
    }
    const why = spawnError
      ? `could not spawn: ${spawnError.message}`
      : otherPid !== undefined
        ? `port already served by another redis-server, pid ${otherPid}`
        : isRunning(child)
          ? `no PONG within ${READY_MS} ms`
          : 'exited';
    await this.kill();
    throw new Error(`redis-server on port ${this.port} did not start (${why}). Its output:\n${output}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !isRunning(child)) return;
    child.kill('SIGTERM');
    if ((await withTimeout(exited(child), STOP_MS)) === 'timeout') await this.kill();
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !isRunning(child)) return;
    child.kill('SIGKILL');
    await exited(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

function makeTempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flamingo-redis-'));
  tempDirs.add(dir);
  return dir;
}

/** Starts a server on a port from pickPort, trying other ports if a start fails (usually a port taken meanwhile). */
async function startOnSomePort(pickPort: () => Promise<number>, extraArgs: (dir: string) => string[]): Promise<ManagedRedis> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const dir = makeTempDir();
    const server = new ManagedRedis(await pickPort(), dir, extraArgs(dir));
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** A standalone redis-server on 127.0.0.1, persistence off. With opts.port, that port or an error. */
export async function startRedis(opts: { port?: number } = {}): Promise<RedisServer> {
  requireBinary('redis-server');
  installExitGuards();
  if (opts.port !== undefined) {
    const server = new ManagedRedis(opts.port, makeTempDir(), []);
    await server.start();
    return server;
  }
  return startOnSomePort(ephemeralPort, () => []);
}

// ---------------------------------------------------------------------------
// A Redis Cluster of masters only

function clusterNodeArgs(dir: string): string[] {
  // Each node keeps nodes.conf in its own dir, so a restarted node rejoins as itself.
  return ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000'];
}

async function waitForClusterOk(nodes: RedisServer[]): Promise<void> {
  const deadline = Date.now() + CLUSTER_READY_MS;
  let states: string[] = [];
  while (Date.now() < deadline) {
    states = await Promise.all(nodes.map(async (node) => (await redisCli(node.port, 'CLUSTER', 'INFO')).match(/cluster_state:(\w+)/)?.[1] ?? '?'));
    if (states.every((state) => state === 'ok')) return;
    await sleep(100);
  }
  throw new Error(`cluster not ok within ${CLUSTER_READY_MS} ms: cluster_state per node ${states.join(', ')}`);
}

/** `shards` cluster masters (no replicas) sharing all 16384 slots, each cluster_state:ok. */
export async function startRedisCluster(shards = 3): Promise<RedisClusterServers> {
  // redis-cli --cluster create refuses fewer than 3 masters.
  if (shards < 3) throw new Error(`a Redis Cluster needs at least 3 masters, got ${shards}`);
  requireBinary('redis-server');
  requireBinary('redis-cli');
  installExitGuards();
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < shards; i++) nodes.push(await startOnSomePort(freeClusterPort, clusterNodeArgs));
    const addresses = nodes.map((node) => `${HOST}:${node.port}`);
    await redisCli(nodes[0]!.port, '--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes');
    await waitForClusterOk(nodes);
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: nodes.map((node) => node.url), nodes, stop };
}
