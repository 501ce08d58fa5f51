// Redis is the spec: the same scripted sessions, as raw RESP bytes, go to a
// real redis-server and to the pub/sub example, and every reply must be the
// same byte for byte. The sessions cover subscribing and publishing,
// subscribed mode and its refusals, patterns, PING in and out of subscribed
// mode, RESP3, inline commands, unknown commands, RESET, QUIT, protocol
// errors; and a few hundred random glob patterns against random channels.
//
// Not compared, since they differ by design: HELLO's `version` and `id`
// (normalised), INFO, COMMAND DOCS, CLIENT ID, CLIENT SETINFO (Redis 7.2's,
// newer than some redis-server binaries), commands other than pub/sub's
// (GET is a command to Redis, unknown here); and the order of
// replies Redis gives in its hash tables' order (UNSUBSCRIBE of several
// channels at once, several patterns matching one publish), compared as sets.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../helpers/clients.ts';
import { PubSubExample, RawClient, replyEnd } from '../helpers/pubsub-example.ts';
import { command } from '../helpers/pubsub-host.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';

let redis: RedisServer;
let example: PubSubExample;
const raws: RawClient[] = [];

beforeAll(async () => {
  [redis, example] = await Promise.all([startRedis(), PubSubExample.start()]);
});

afterAll(async () => {
  for (const raw of raws) raw.destroy();
  await redis?.stop();
  expect(await example?.stop()).toEqual({ code: 0, signal: null });
});

/** One step: bytes one connection sends, and how many replies each connection then receives. */
interface Step {
  on: string;
  send: string | Buffer;
  replies: Record<string, number>;
}

const cmd = (...args: string[]): Buffer => command(...args);
/** A command on `on` whose replies all go back to it. */
const ask = (on: string, count: number, ...args: string[]): Step => ({ on, send: cmd(...args), replies: { [on]: count } });

/** HELLO's reply names the server's version and the connection's id, which differ by design. */
function normalise(bytes: Buffer): string {
  return bytes
    .toString('latin1')
    .replace(/(\$7\r\nversion\r\n)\$\d+\r\n[^\r]*\r\n/g, '$1<version>')
    .replace(/(\$2\r\nid\r\n):\d+\r\n/g, '$1<id>');
}

/** Runs `steps` against the server on `port`: for each step, what each connection received. */
async function run(port: number, steps: readonly Step[]): Promise<string[]> {
  const connections = new Map<string, RawClient>();
  const transcript: string[] = [];
  for (const [i, step] of steps.entries()) {
    for (const name of [step.on, ...Object.keys(step.replies)]) {
      if (!connections.has(name)) {
        const client = await RawClient.connect(port);
        raws.push(client);
        connections.set(name, client);
      }
    }
    connections.get(step.on)!.send(step.send);
    for (const [name, count] of Object.entries(step.replies)) {
      const client = connections.get(name)!;
      const bytes = count === -1 ? Buffer.concat([await client.end(), Buffer.from('<end>')]) : await client.replies(count);
      transcript.push(`step ${i} ${name}: ${normalise(bytes)}`);
    }
  }
  // Nothing unexpected left over on any connection.
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const [name, client] of connections) transcript.push(`left on ${name}: ${normalise(client.pending())}`);
  return transcript;
}

async function sameOnBoth(steps: readonly Step[]): Promise<void> {
  const [fromRedis, fromExample] = await Promise.all([run(redis.port, steps), run(example.port, steps)]);
  expect(fromExample).toEqual(fromRedis);
}

describe('the pub/sub example against redis-server, byte for byte', () => {
  it('a session outside subscribed mode: PING, ECHO, unknown commands, SELECT, CLIENT, HELLO, AUTH refusals', async () => {
    await sameOnBoth([
      ask('a', 1, 'PING'),
      ask('a', 1, 'PING', 'hello there'),
      ask('a', 1, 'ping', 'a', 'b'),
      ask('a', 1, 'ECHO', 'x\r\ny'),
      ask('a', 1, 'FLY', 'to', 'the\r\nmoon'),
      ask('a', 1, 'NOPE', 'x'.repeat(200), 'y'),
      ask('a', 1, 'SELECT', '0'),
      ask('a', 1, 'SELECT', '16'),
      ask('a', 1, 'SELECT', 'zero'),
      ask('a', 1, 'SELECT', '-1'),
      ask('a', 1, 'CLIENT', 'SETNAME', 'tester'),
      ask('a', 1, 'CLIENT', 'GETNAME'),
      ask('a', 1, 'CLIENT', 'SETNAME', 'two words'),
      ask('a', 1, 'CLIENT', 'SETNAME', ''),
      ask('a', 1, 'CLIENT', 'GETNAME'),
      ask('a', 1, 'CLIENT', 'FLY'),
      ask('a', 1, 'CLIENT'),
      ask('a', 1, 'CLIENT', 'SETNAME'),
      ask('a', 1, 'HELLO', '4'),
      ask('a', 1, 'HELLO', '1'),
      ask('a', 1, 'HELLO', 'three'),
      ask('a', 1, 'HELLO', '3', 'NOSUCH'),
      ask('a', 1, 'HELLO', '3', 'AUTH', 'someone', 'secret'),
      ask('a', 1, 'CONFIG', 'GET', 'save'),
      ask('a', 1, 'CONFIG', 'GET', 'appendonly'),
      ask('a', 1, 'AUTH', 'secret'),
      ask('a', 1, 'AUTH', 'default', 'secret'),
      ask('a', 1, 'AUTH', 'someone', 'secret'),
      ask('a', 1, 'PUBLISH', 'nobody', 'listens'),
      ask('a', 1, 'PUBLISH', 'nobody'),
      ask('a', 1, 'SUBSCRIBE'),
      ask('a', 1, 'UNSUBSCRIBE'),
      ask('a', 1, 'PUNSUBSCRIBE'),
      ask('a', 2, 'UNSUBSCRIBE', 'never', 'x'),
    ]);
  });

  it('a session in subscribed mode: confirmations with counts, messages, pmessages, PING as an array, and only pub/sub commands', async () => {
    await sameOnBoth([
      ask('a', 2, 'SUBSCRIBE', 'news', 'sports'),
      ask('a', 1, 'SUBSCRIBE', 'news'),
      ask('a', 1, 'PING'),
      ask('a', 1, 'PING', 'still there?'),
      ask('a', 1, 'PUBLISH', 'news', 'from a subscriber'),
      ask('a', 1, 'PUBLISH', 'news'),
      ask('a', 1, 'FLY'),
      ask('a', 1, 'ECHO', 'x'),
      ask('a', 1, 'CLIENT', 'GETNAME'),
      ask('a', 1, 'HELLO', '3'),
      ask('a', 1, 'SELECT', '0'),
      { on: 'b', send: cmd('PUBLISH', 'news', 'hello'), replies: { b: 1, a: 1 } },
      { on: 'b', send: cmd('PUBLISH', 'weather', 'rain'), replies: { b: 1 } },
      ask('a', 1, 'PSUBSCRIBE', 'n*'),
      { on: 'b', send: cmd('PUBLISH', 'news', 'both ways'), replies: { b: 1, a: 2 } },
      { on: 'b', send: cmd('PUBLISH', 'nets', 'pattern only'), replies: { b: 1, a: 1 } },
      ask('a', 2, 'PSUBSCRIBE', 'n*', 's?orts'),
      { on: 'b', send: cmd('PUBLISH', 'sports', 'goal'), replies: { b: 1, a: 2 } },
      ask('a', 2, 'UNSUBSCRIBE', 'news', 'never'),
      ask('a', 1, 'UNSUBSCRIBE'),
      ask('a', 1, 'UNSUBSCRIBE'),
      ask('a', 1, 'PING'),
      ask('a', 2, 'PUNSUBSCRIBE', 'n*', 'x*'),
      ask('a', 1, 'PUNSUBSCRIBE'),
      ask('a', 1, 'PUNSUBSCRIBE'),
      ask('a', 1, 'PING'),
      ask('a', 1, 'PUBLISH', 'news', 'no longer subscribed'),
      ask('a', 3, 'PSUBSCRIBE', 'a*', 'b*', 'c*'),
      ask('a', 3, 'PUNSUBSCRIBE'),
      ask('a', 3, 'SUBSCRIBE', 'x\r\ny', '', 'tab\there'),
      { on: 'b', send: cmd('PUBLISH', '', 'to the empty channel'), replies: { b: 1, a: 1 } },
      { on: 'b', send: cmd('PUBLISH', 'x\r\ny', 'crlf'), replies: { b: 1, a: 1 } },
      ask('a', 1, 'RESET'),
      { on: 'b', send: cmd('PUBLISH', 'tab\there', 'after reset'), replies: { b: 1 } },
      ask('a', 1, 'PING'),
      ask('a', 1, 'QUIT'),
      { on: 'a', send: '', replies: { a: -1 } },
    ]);
  });

  it('a RESP3 session: HELLO 3, pushes, no subscribed-mode limits, and back to RESP2', async () => {
    await sameOnBoth([
      ask('a', 1, 'HELLO', '3'),
      ask('a', 1, 'PING'),
      ask('a', 1, 'CLIENT', 'GETNAME'),
      ask('a', 2, 'SUBSCRIBE', 'r3', 'other'),
      ask('a', 1, 'PING'),
      ask('a', 1, 'ECHO', 'allowed'),
      { on: 'b', send: cmd('PUBLISH', 'r3', 'pushed'), replies: { b: 1, a: 1 } },
      ask('a', 2, 'PUBLISH', 'r3', 'to myself'),
      ask('a', 1, 'PSUBSCRIBE', 'r*'),
      { on: 'b', send: cmd('PUBLISH', 'r3', 'twice'), replies: { b: 1, a: 2 } },
      ask('a', 2, 'UNSUBSCRIBE', 'r3', 'other'),
      ask('a', 1, 'UNSUBSCRIBE'),
      ask('a', 1, 'PUNSUBSCRIBE'),
      ask('a', 1, 'PUNSUBSCRIBE'),
      ask('a', 1, 'SUBSCRIBE', 'r3'),
      ask('a', 1, 'HELLO', '2'),
      ask('a', 1, 'PING'),
      ask('a', 1, 'HELLO', '3'),
      ask('a', 1, 'RESET'),
      ask('a', 1, 'PING'),
    ]);
  });

  it('inline commands, requests Redis ignores, and pipelining', async () => {
    await sameOnBoth([
      { on: 'a', send: 'PING\r\n', replies: { a: 1 } },
      { on: 'a', send: "ECHO \"two words\" 'and \\'more\\''\r\n", replies: { a: 1 } },
      { on: 'a', send: 'ECHO "\\x41\\x4a\\n\\q"\n', replies: { a: 1 } },
      { on: 'a', send: '\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n', replies: { a: 1 } },
      { on: 'a', send: 'subscribe inline  channels\r\n', replies: { a: 2 } },
      {
        on: 'a',
        send: Buffer.concat([cmd('PING'), cmd('UNSUBSCRIBE', 'inline'), Buffer.from('PING x\r\n'), cmd('UNSUBSCRIBE'), cmd('PING')]),
        replies: { a: 5 },
      },
      // A request split at every byte.
      ...[...cmd('ECHO', 'byte by byte')].map((byte, i, all): Step => ({ on: 'a', send: Buffer.of(byte), replies: i === all.length - 1 ? { a: 1 } : {} })),
    ]);
  });

  it.each([
    ['a 2^40-byte bulk string', '*1\r\n$1099511627776\r\n'],
    ['a bulk length that is not a number', '*2\r\n$4\r\nECHO\r\n$abc\r\n'],
    ['a negative bulk length', '*1\r\n$-5\r\n'],
    ['a count that is not a number', '*two\r\n'],
    ['a count too large', '*4294967296\r\n'],
    ['a bulk string without its $', '*2\r\n$4\r\nECHO\r\n+x\r\n'],
    ['unbalanced quotes', 'ECHO "open\r\n'],
    ['a quote closed inside a word', "ECHO 'a'b\r\n"],
  ])('%s after a good request: its reply, then the error, then the close', async (_, bytes) => {
    await sameOnBoth([{ on: 'c', send: Buffer.concat([cmd('PING', 'before'), Buffer.from(bytes, 'latin1')]), replies: { c: -1 } }]);
  });

  it('random glob patterns against random channels: the same confirmations, counts and pmessages', async () => {
    const random = prng(0x5eed);
    const pick = (alphabet: string, max: number): string =>
      Array.from({ length: Math.floor(random() * (max + 1)) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const patterns = Array.from({ length: 150 }, () => pick('ab-*?*[]^\\\x80\xff', 7));
    const channels = Array.from({ length: 400 }, () => pick('ab-]^[\\*?\x80\xff', 5));
    const results = await Promise.all(
      [redis.port, example.port].map(async (port) => {
        const subscriber = await RawClient.connect(port);
        const publisher = await RawClient.connect(port);
        raws.push(subscriber, publisher);
        subscriber.send(cmd('PSUBSCRIBE', ...patterns));
        const confirmations = normalise(await subscriber.replies(patterns.length));
        publisher.send(Buffer.concat(channels.map((channel) => cmd('PUBLISH', channel, 'm'))));
        const counts = (await publisher.replies(channels.length)).toString('latin1');
        const total = [...counts.matchAll(/:(\d+)\r\n/g)].reduce((sum, [, n]) => sum + Number(n), 0);
        const received = await subscriber.replies(total, 20_000);
        const pmessages: string[] = [];
        for (let at = 0; at < received.length; ) {
          const end = replyEnd(received, at);
          pmessages.push(received.toString('latin1', at, end));
          at = end;
        }
        return { confirmations, counts, total, pmessages: pmessages.sort() };
      }),
    );
    expect(results[0]!.total).toBeGreaterThan(100);
    expect(results[1]).toEqual(results[0]);
  });
});
