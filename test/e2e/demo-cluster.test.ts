// The echo demo's line protocol and its --processes supervisor, end to end:
// a real redis-server, real demo processes, real sockets on loopback.
// (a) one process with --redis: ID, SEND, SUB/UNSUB/PUB, ERR lines, echo.
// (b) --processes 3 on one port: the kernel spreads clients over the
// processes, SEND and PUB cross them through Redis, a child killed with
// SIGKILL is restarted with a new node number while the others serve on,
// and SIGTERM to the supervisor ends every child.

import { type ChildProcess, spawn } from 'node:child_process';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeId } from '../../src/main/index.ts';
import { connect, waitFor } from '../helpers/clients.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

const demo = fileURLToPath(new URL('../../examples/echo.ts', import.meta.url));
const STARTUP_MS = 15_000;
const EXIT_MS = 12_000;
/** How long to keep listening for a second copy of a delivery before calling it delivered once. */
const SETTLE_MS = 300;

interface Demo {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every pid a test started (demos, and the children a supervisor named): SIGKILLed in afterAll if still there. */
const pids = new Set<number>();
const sockets: net.Socket[] = [];

function run(args: string[]): Demo {
  const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  pids.add(child.pid!);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => output, exited };
}

async function outputMatch(d: Demo, pattern: RegExp, timeoutMs = STARTUP_MS): Promise<RegExpMatchArray> {
  await waitFor(() => pattern.test(d.output()), timeoutMs, `${pattern} in the demo's output:\n${d.output()}`);
  return d.output().match(pattern)!;
}

async function terminate(d: Demo): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  d.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no exit ${EXIT_MS} ms after SIGTERM:\n${d.output()}`)), EXIT_MS);
  });
  try {
    return await Promise.race([d.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One client speaking lines: what it sent, what came back, and a cursor so each awaited line is taken once. */
class LineClient {
  text = '';
  closed = false;
  #taken = new Set<number>();
  id = 0;
  node = -1;

  readonly socket: net.Socket;

  constructor(socket: net.Socket) {
    this.socket = socket;
    // latin1: one char per byte, so binary echoes compare byte for byte.
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.text += chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<LineClient> {
    const socket = await connect(port);
    sockets.push(socket);
    return new LineClient(socket);
  }

  send(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  lines(): string[] {
    return this.text.split('\n').slice(0, -1);
  }

  count(line: string): number {
    return this.lines().filter((l) => l === line).length;
  }

  /** The first line not yet taken that matches, once it has arrived. */
  async line(pattern: RegExp | string, timeoutMs = 5000): Promise<RegExpExecArray> {
    const matches = (l: string): boolean => (typeof pattern === 'string' ? l === pattern : pattern.test(l));
    const find = (): number => this.lines().findIndex((l, i) => !this.#taken.has(i) && matches(l));
    await waitFor(() => find() >= 0, timeoutMs, `a line ${pattern} (got ${JSON.stringify(this.text)})`);
    const index = find();
    this.#taken.add(index);
    const found = this.lines()[index]!;
    return typeof pattern === 'string' ? (Object.assign([found], { index: 0, input: found }) as RegExpExecArray) : pattern.exec(found)!;
  }

  /** Asks ID and notes the id and its node. */
  async identify(): Promise<this> {
    this.send('ID\n');
    const [, id] = await this.line(/^ID (\d+)$/);
    this.id = Number(id);
    this.node = decodeId(this.id).node;
    return this;
  }
}

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const pid of pids) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await redis?.stop();
});

describe('the echo demo with --redis', () => {
  it('answers ID, SEND, SUB, UNSUB and PUB, says ERR for a bad id or topic, and echoes every other line exactly', async () => {
    const d = run(['--port', '0', '--workers', '2', '--quiet', '--framing', 'delimiter', '--redis', redis.url, '--prefix', `demo-a-${process.pid}`]);
    const [, port, node] = await outputMatch(d, /listening on 127\.0\.0\.1:(\d+) with 2 I\/O workers \(framing delimiter, node (\d+)/);
    const a = await LineClient.open(Number(port));
    const b = await LineClient.open(Number(port));
    await a.identify();
    b.send('ID\r\n');
    const [, idB] = await b.line(/^ID (\d+)$/);
    b.id = Number(idB);
    expect(a.node).toBe(Number(node));
    expect(decodeId(b.id).node).toBe(Number(node));
    expect(a.id).not.toBe(b.id);

    // SEND: to itself, and to another connection; no reply to the sender.
    a.send(`SEND ${a.id} note to self\n`);
    await a.line('note to self');
    a.send(`SEND ${b.id} hello b, with  two spaces\r\n`);
    await b.line('hello b, with  two spaces');

    // Topics.
    a.send('SUB news\n');
    await a.line('OK SUB news');
    b.send('SUB news\r\n');
    await b.line('OK SUB news');
    b.send('PUB news extra extra\n');
    await a.line('extra extra');
    await b.line('extra extra');
    a.send('UNSUB news\n');
    await a.line('OK UNSUB news');
    b.send('PUB news second edition\n');
    await b.line('second edition');
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(a.count('second edition')).toBe(0);
    expect(a.count('extra extra')).toBe(1);

    // Refusals: one ERR line each, the connection stays.
    a.send('SEND 0 x\n');
    await a.line(/^ERR ERR_FLAMINGO_INVALID_ID .*"0"/);
    a.send('SEND abc x\n');
    await a.line(/^ERR ERR_FLAMINGO_INVALID_ID .*"abc"/);
    a.send('SEND\n');
    await a.line(/^ERR ERR_FLAMINGO_INVALID_ID /);
    a.send(`SUB ${'t'.repeat(300)}\n`);
    await a.line(/^ERR ERR_FLAMINGO_INVALID_TOPIC /);
    a.send('PUB\n');
    await a.line(/^ERR ERR_FLAMINGO_INVALID_TOPIC /);
    a.send('SUB two words\n');
    await a.line(/^ERR ERR_FLAMINGO_INVALID_TOPIC a topic in the demo is one word/);

    // Everything else comes back as it was sent, delimiter (and \r) included.
    const before = a.text.length;
    const plain = 'SUBWAY tickets\nsend ID please\nID? no\nPUBLIC\r\nUNSUBTLE\n\u0000\u00ff\u0001 binary\r\nplain text\n';
    a.send(plain);
    await waitFor(() => a.text.length >= before + plain.length, 5000, 'the echo');
    expect(a.text.slice(before)).toBe(plain);

    expect(await terminate(d)).toEqual({ code: 0, signal: null });
    expect(d.output()).toMatch(/SIGTERM: shutting down\nstopped \(\d+ bytes abandoned\)/);
  });

  it('refuses --processes without --redis, with exit code 2', async () => {
    const d = run(['--port', '0', '--processes', '2']);
    expect((await d.exited).code).toBe(2);
    expect(d.output()).toMatch(/--processes needs --redis/);
  });
});

describe('the echo demo with --processes 3', () => {
  it('spreads clients over 3 processes on one port, routes SEND and PUB between them, restarts a killed child, and stops all on SIGTERM', async () => {
    const supervisor = run([
      '--port',
      '0',
      '--workers',
      '1',
      '--quiet',
      '--framing',
      'delimiter',
      '--redis',
      redis.url,
      '--prefix',
      `demo-b-${process.pid}`,
      // The default, given as a flag: the killed child's number stays leased while its replacement starts.
      '--lease-ms',
      '5000',
      '--processes',
      '3',
    ]);
    const children = /^child (\d+) pid (\d+) node (\d+)$/gm;
    const childLines = (): Array<{ index: number; pid: number; node: number }> =>
      [...supervisor.output().matchAll(children)].map(([, index, pid, node]) => ({ index: Number(index), pid: Number(pid), node: Number(node) }));
    await waitFor(() => childLines().length >= 3, 20_000, `3 children listening:\n${supervisor.output()}`);
    for (const { pid } of childLines()) pids.add(pid);
    const first = childLines();
    expect(new Set(first.map((c) => c.index))).toEqual(new Set([0, 1, 2]));
    expect(new Set(first.map((c) => c.node)).size).toBe(3);
    const [, port] = (await outputMatch(supervisor, /^\[\d\] flamingo echo listening on 127\.0\.0\.1:(\d+)/m)).map(Number);
    // Every child listens on the same port (a child's output and its IPC message to the supervisor may arrive in either order).
    const listening = (): string[] => supervisor.output().match(/listening on 127\.0\.0\.1:\d+/g) ?? [];
    await waitFor(() => listening().length >= 3, 5000, 'three listening lines');
    expect(listening()).toEqual(Array(3).fill(`listening on 127.0.0.1:${port}`));

    // The kernel spreads connections over the processes: see it through the node in each id.
    const clients: LineClient[] = [];
    const nodesSeen = (): Set<number> => new Set(clients.map((c) => c.node));
    for (let i = 0; i < 12; i++) clients.push(await (await LineClient.open(port!)).identify());
    expect(nodesSeen().size).toBeGreaterThanOrEqual(2);
    for (const c of clients) expect(first.map((f) => f.node)).toContain(c.node);
    // One client on every node, for the rest (more clients until each node has one; bounded).
    while (nodesSeen().size < 3 && clients.length < 60) clients.push(await (await LineClient.open(port!)).identify());
    expect(nodesSeen().size).toBe(3);
    const onNode = (node: number): LineClient => clients.find((c) => c.node === node)!;
    const [n0, n1, n2] = first.map((c) => c.node) as [number, number, number];

    // SEND from one process to a client of another.
    onNode(n0).send(`SEND ${onNode(n1).id} from node ${n0}\n`);
    await onNode(n1).line(`from node ${n0}`);
    onNode(n2).send(`SEND ${onNode(n0).id} from node ${n2}\n`);
    await onNode(n0).line(`from node ${n2}`);

    // SUB on a client of every node (two on one node), PUB from one: each subscriber gets it exactly once.
    const subscribers = [onNode(n0), onNode(n1), onNode(n2), clients.find((c) => c.node === n1 && c !== onNode(n1))].filter(
      (c): c is LineClient => c !== undefined,
    );
    for (const s of subscribers) s.send('SUB scores\n');
    for (const s of subscribers) await s.line('OK SUB scores');
    const publisher = clients.find((c) => !subscribers.includes(c)) ?? onNode(n2);
    publisher.send('PUB scores 3:2 at half time\n');
    for (const s of subscribers) await s.line('3:2 at half time');
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    for (const s of subscribers) expect(s.count('3:2 at half time')).toBe(1);
    for (const c of clients) if (!subscribers.includes(c)) expect(c.count('3:2 at half time')).toBe(0);

    // SIGKILL one child: the supervisor restarts it under a new node number; the others serve on.
    const victim = first.find((c) => c.node === n1)!;
    process.kill(victim.pid, 'SIGKILL');
    await outputMatch(supervisor, new RegExp(`^child ${victim.index} \\(pid ${victim.pid}, node ${n1}\\) exited on SIGKILL; restarting`, 'm'), 5000);
    await waitFor(() => childLines().length >= 4, 15_000, `the restarted child listening:\n${supervisor.output()}`);
    const restarted = childLines()[3]!;
    await waitFor(() => listening().length >= 4, 5000, 'the restarted child to say where it listens');
    expect(listening()[3]).toBe(`listening on 127.0.0.1:${port}`);
    pids.add(restarted.pid);
    expect(restarted.index).toBe(victim.index);
    expect(restarted.pid).not.toBe(victim.pid);
    // n1's lease (5 s) had not lapsed yet when the new child leased, so it got another number.
    expect([n0, n1, n2]).not.toContain(restarted.node);
    // The killed process's clients lost their connections.
    await waitFor(() => clients.filter((c) => c.node === n1).every((c) => c.closed), 5000, "the killed child's clients to be closed");

    // The survivors still echo and route between each other.
    const survivor = onNode(n0);
    survivor.send('still here\n');
    await survivor.line('still here');
    onNode(n2).send(`SEND ${survivor.id} after the crash\n`);
    await survivor.line('after the crash');
    // And the restarted child serves too: a new client lands on it (bounded tries), and takes a SEND from another node.
    let fresh: LineClient | undefined;
    for (let i = 0; i < 40 && fresh === undefined; i++) {
      const c = await (await LineClient.open(port!)).identify();
      if (c.node === restarted.node) fresh = c;
      else c.socket.destroy();
    }
    expect(fresh).toBeDefined();
    survivor.send(`SEND ${fresh!.id} welcome back\n`);
    await fresh!.line('welcome back');

    // SIGTERM to the supervisor ends every child, gracefully.
    const exit = await terminate(supervisor);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(supervisor.output()).toMatch(/^all children stopped$/m);
    const running = childLines().filter(({ pid }) => pid !== victim.pid);
    expect(running).toHaveLength(3);
    for (const { index } of running) expect(supervisor.output()).toMatch(new RegExp(`^\\[${index}\\] stopped \\(\\d+ bytes abandoned\\)$`, 'm'));
    await waitFor(() => childLines().every(({ pid }) => !alive(pid)), 5000, 'every child to be gone');
  });
});
