// The pub/sub example (examples/pubsub) as one process, used by clients
// nobody here wrote: the real redis-cli binary, ioredis and node-redis, in
// RESP3 (their default) and RESP2; inline commands as typed into telnet;
// and malformed RESP, which closes only the connection that sent it.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/clients.ts';
import { type Client, KINDS, closeClients, connectClient } from '../helpers/pubsub-clients.ts';
import { PubSubExample, RawClient } from '../helpers/pubsub-example.ts';

let example: PubSubExample;
const clients: Client[] = [];
const raws: RawClient[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  example = await PubSubExample.start();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const raw of raws) raw.destroy();
  await closeClients(clients);
  expect(await example?.stop()).toEqual({ code: 0, signal: null });
});

function redisCli(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(example.port), ...args], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A redis-cli that stays subscribed, and everything it has printed. */
function redisCliSubscribed(...args: string[]): { output: () => string } {
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(example.port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { output: () => output };
}

async function raw(): Promise<RawClient> {
  const client = await RawClient.connect(example.port);
  raws.push(client);
  return client;
}

describe('the pub/sub example with real clients', () => {
  it('redis-cli subscribes, pattern-subscribes and publishes as against Redis', async () => {
    const subscriber = redisCliSubscribed('subscribe', 'news');
    const patterns = redisCliSubscribed('psubscribe', 'ne*');
    await waitFor(() => subscriber.output().includes('subscribe\nnews\n1\n'), 10_000, `redis-cli to subscribe: ${subscriber.output()}`);
    await waitFor(() => patterns.output().includes('psubscribe\nne*\n1\n'), 10_000, `redis-cli to psubscribe: ${patterns.output()}`);
    expect(await redisCli('--no-raw', 'publish', 'news', 'hello')).toBe('(integer) 2\n');
    await waitFor(() => subscriber.output().endsWith('message\nnews\nhello\n'), 10_000, `the message in redis-cli: ${subscriber.output()}`);
    await waitFor(() => patterns.output().endsWith('pmessage\nne*\nnews\nhello\n'), 10_000, `the pmessage in redis-cli: ${patterns.output()}`);
    expect(await redisCli('--no-raw', 'publish', 'nobody', 'x')).toBe('(integer) 0\n');
    expect(await redisCli('ping')).toBe('PONG\n');
    expect(await redisCli('--no-raw', 'get', 'k')).toBe("(error) ERR unknown command 'get', with args beginning with: 'k' \n");
    expect(await redisCli('-3', 'publish', 'news', 'over RESP3')).toBe('2\n');
    await waitFor(() => subscriber.output().endsWith('message\nnews\nover RESP3\n'), 10_000, 'the second message');
  });

  it.each(KINDS)('%s in RESP%d subscribes, pattern-subscribes and publishes; each message arrives once', async (library, resp) => {
    const subscriber = await connectClient(library, example.port, resp);
    const publisher = await connectClient(library, example.port, resp);
    clients.push(subscriber, publisher);
    const channel = `${library}-${resp}`;
    await subscriber.subscribe(channel);
    await subscriber.psubscribe(`${channel}*`);
    for (let i = 0; i < 20; i++) expect(await publisher.publish(channel, `m${i}`)).toBe(2);
    await waitFor(() => subscriber.messages.length >= 20 && subscriber.pmessages.length >= 20, 10_000, `20 messages and pmessages for ${subscriber.label}`);
    expect(subscriber.messages).toEqual(Array.from({ length: 20 }, (_, i) => `${channel} m${i}`));
    expect(subscriber.pmessages).toEqual(Array.from({ length: 20 }, (_, i) => `${channel}* ${channel} m${i}`));
    expect([...subscriber.errors, ...publisher.errors]).toEqual([]);
  });

  it('answers inline commands, as telnet or redis-benchmark send them', async () => {
    const client = await raw();
    client.send('PING\r\nECHO "two words"\nSUBSCRIBE inline\r\n');
    expect((await client.replies(3)).toString()).toBe('+PONG\r\n$9\r\ntwo words\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\ninline\r\n:1\r\n');
  });

  it("malformed RESP gets Redis's error and closes only that connection; a subscriber beside it carries on", async () => {
    const subscriber = await raw();
    subscriber.send('*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\nsteady\r\n');
    await subscriber.replies(1);
    const offenders = [
      ['*1\r\n$1099511627776\r\n', 'invalid bulk length'],
      ['*x\r\n', 'invalid multibulk length'],
      ['*1\r\nPING\r\n', "expected '$', got 'P'"],
      ['SUBSCRIBE "unclosed\r\n', 'unbalanced quotes in request'],
    ] as const;
    const ended = await Promise.all(
      offenders.map(async ([bytes]) => {
        const offender = await raw();
        // A good request first: its reply comes before the error.
        offender.send(`PING\r\n${bytes}`);
        return offender.end();
      }),
    );
    expect(ended.map((bytes) => bytes.toString('latin1'))).toEqual(offenders.map(([, message]) => `+PONG\r\n-ERR Protocol error: ${message}\r\n`));
    // Megabytes of garbage with no line end: refused once past 64 KiB.
    const flood = await raw();
    flood.send(Buffer.alloc(1024 * 1024, 0x61));
    expect((await flood.end()).toString()).toBe('-ERR Protocol error: too big inline request\r\n');
    expect(await redisCli('publish', 'steady', 'still here')).toBe('1\n');
    expect((await subscriber.replies(1)).toString()).toBe('*3\r\n$7\r\nmessage\r\n$6\r\nsteady\r\n$10\r\nstill here\r\n');
    expect(subscriber.ended).toBe(false);
  });

  it('QUIT replies +OK and closes; RESET leaves every subscription', async () => {
    const client = await raw();
    client.send('SUBSCRIBE a b\r\nRESET\r\nPUBLISH a x\r\nQUIT\r\n');
    expect((await client.end()).toString()).toBe('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n+RESET\r\n:0\r\n+OK\r\n');
  });
});
