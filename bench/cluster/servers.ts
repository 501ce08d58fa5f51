// What the cluster benchmark runs and samples besides its clients: a
// redis-server of its own, the Flamingo demo's server processes, which
// server process holds a given client socket, and the kernel's memory.
//
// Every process is a Child of bench/load/procs.ts: registered at spawn, in
// its own process group, ended by killAll() on failure, timeout or signal.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { Child, processTree, sleep } from '../load/procs.ts';

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

/** A free loopback port: bound to 0, read, released (a tiny race with other programs, as any such helper). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class Redis {
  readonly child: Child;
  readonly port: number;

  private constructor(child: Child, port: number) {
    this.child = child;
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * redis-server on a free loopback port, no persistence, logging to stdout; resolves once it accepts connections.
   * `clients`: it serves clients from any 127.x source address (protected mode off; it still binds 127.0.0.1 only)
   * and up to `maxClients` of them (bench/pubsub).
   */
  static async start(clients?: { maxClients: number }): Promise<Redis> {
    const port = await freePort();
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      clients ? 'no' : 'yes',
      '--loglevel',
      'notice',
    ];
    if (clients) args.push('--maxclients', String(clients.maxClients));
    const child = new Child('redis-server', 'redis-server', args);
    try {
      await child.waitLine('"Ready to accept connections"', (line) => (line.includes('Ready to accept connections') ? true : undefined), READY_TIMEOUT_MS);
    } catch (error) {
      child.kill();
      throw error;
    }
    return new Redis(child, port);
  }

  async stop(): Promise<void> {
    await this.child.stop(STOP_GRACE_MS);
  }
}

export interface FleetOptions {
  /** The demo script (examples/echo.ts, or a stand-in speaking the same lines). */
  demo: string;
  port: number;
  /** Server processes. */
  processes: number;
  /** redis URL; undefined: a single server without cluster (the baseline). */
  redis?: string;
  /** 'separate': one `--share-port --node auto` process each; 'supervised': one `--processes N` supervisor. */
  topology: 'separate' | 'supervised';
  /** More demo flags, as given (`--workers 1`, say). */
  extraArgs: string[];
}

/** The Flamingo server processes under test. */
export class Fleet {
  readonly children: Child[];
  /** The pid of each server process (a supervisor is not one: it holds no connections). */
  servers: number[] = [];
  /** Every pid whose CPU and memory count as Flamingo's: the servers and a supervisor. */
  all: number[] = [];

  private constructor(children: Child[]) {
    this.children = children;
  }

  static async start(o: FleetOptions): Promise<Fleet> {
    const base = [o.demo, '--framing', 'delimiter', '--port', String(o.port), '--quiet', ...o.extraArgs];
    const cluster = o.redis === undefined ? [] : ['--redis', o.redis];
    const children: Child[] = [];
    const fleet = new Fleet(children);
    try {
      if (o.redis === undefined || o.processes === 1) {
        if (o.processes !== 1) throw new Error('several server processes need Redis');
        children.push(new Child('server', process.execPath, [...base, ...cluster]));
      } else if (o.topology === 'separate') {
        for (let i = 0; i < o.processes; i++) {
          children.push(new Child(`server#${i}`, process.execPath, [...base, ...cluster, '--share-port', '--node', 'auto']));
        }
      } else {
        children.push(new Child('supervisor', process.execPath, [...base, ...cluster, '--processes', String(o.processes)]));
      }
      // Each server process says "... listening on HOST:PORT ..." once it listens; a supervisor passes its children's lines on.
      const listening = (line: string): true | undefined => (/listening on \S+:\d+/.test(line) ? true : undefined);
      if (children.length === o.processes) {
        await Promise.all(children.map((c) => c.waitLine('"listening on" line', listening, READY_TIMEOUT_MS)));
      } else {
        for (let i = 0; i < o.processes; i++) await children[0]!.waitLine(`"listening on" line #${i + 1}`, listening, READY_TIMEOUT_MS);
      }
      await fleet.#findPids(o.processes);
    } catch (error) {
      for (const c of children) c.kill();
      throw error;
    }
    return fleet;
  }

  async #findPids(processes: number): Promise<void> {
    if (this.children.length === processes) {
      this.servers = this.children.map((c) => c.pid);
      this.all = this.children.flatMap((c) => processTree(c.pid));
      return;
    }
    // Supervised: the server processes are the supervisor's descendants that listen; wait for all of them.
    const root = this.children[0]!.pid;
    for (let attempt = 0; attempt < 50; attempt++) {
      const tree = processTree(root);
      const listeners = tree.filter((pid) => pid !== root && socketInodes(pid).size > 0);
      if (listeners.length >= processes) {
        this.servers = listeners.slice(0, processes);
        this.all = tree;
        return;
      }
      await sleep(100);
    }
    throw new Error(`the supervisor (pid ${root}) did not show ${processes} server processes`);
  }

  /** SIGTERM to each, SIGKILL to its group after the grace period; true if all exited cleanly with code 0. */
  async stop(): Promise<{ clean: boolean; details: string[] }> {
    const details: string[] = [];
    let clean = true;
    await Promise.all(
      this.children.map(async (c) => {
        const ok = await c.stop(STOP_GRACE_MS);
        const { code, signal } = await c.exited;
        c.kill(); // anything the child started dies with its group
        if (!ok || code !== 0) {
          clean = false;
          details.push(`${c.name} (pid ${c.pid}) exited with code ${code} signal ${signal}${ok ? '' : ' after SIGKILL'}: ${c.stderrTail(5)}`);
        }
      }),
    );
    return { clean, details };
  }

  /** The servers' stderr, for a failure message. */
  stderrTail(): string {
    return this.children.map((c) => `${c.name}: ${c.stderrTail(10)}`).join('\n');
  }
}

/** The inodes of every socket a process has open (all its threads share one table). */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Sockets a process holds (a cheaper count than socketInodes when only the number matters). */
export function socketCount(pid: number): number {
  return socketInodes(pid).size;
}

/**
 * Which of `serverPids` accepted each client connection from 127.0.0.`srcHost`:`port`
 * to `serverPort` (index into serverPids, or -1 when not found). Read from
 * /proc/net/tcp (the server side of each connection: local port serverPort,
 * remote the client's address) and the servers' fd tables.
 */
export function ownersOfClientPorts(serverPids: readonly number[], serverPort: number, srcHost: number, clientPorts: readonly number[]): number[] {
  const wanted = new Map<number, number>(); // client port -> inode
  const remoteIp = (((srcHost << 24) | 0x7f) >>> 0).toString(16).toUpperCase().padStart(8, '0');
  const ports = new Set(clientPorts);
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [, localPort] = f[1]!.split(':');
    const [remIp, remPort] = f[2]!.split(':');
    if (Number.parseInt(localPort!, 16) !== serverPort || remIp !== remoteIp) continue;
    const port = Number.parseInt(remPort!, 16);
    if (ports.has(port)) wanted.set(port, Number(f[9]));
  }
  const owners = serverPids.map((pid) => socketInodes(pid));
  return clientPorts.map((port) => {
    const inode = wanted.get(port);
    return inode === undefined ? -1 : owners.findIndex((set) => set.has(inode));
  });
}

export interface KernelMemory {
  /** /proc/meminfo Slab (kernel objects: sockets, files, epoll items, dentries ...), bytes. */
  slab: number;
  /** /proc/net/sockstat TCP mem: pages of socket buffers, in bytes. */
  tcpBuffers: number;
  /** /proc/net/sockstat TCP inuse. */
  tcpInUse: number;
}

export function kernelMemory(): KernelMemory {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const slabKb = Number(/^Slab:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0);
  const sockstat = readFileSync('/proc/net/sockstat', 'utf8');
  const tcp = /^TCP: inuse (\d+) orphan \d+ tw \d+ alloc \d+ mem (\d+)$/m.exec(sockstat);
  return { slab: slabKb * 1024, tcpBuffers: Number(tcp?.[2] ?? 0) * 4096, tcpInUse: Number(tcp?.[1] ?? 0) };
}
