// The pub/sub example's commands, application and protocol together in one
// thread (test/helpers/pubsub-loop.ts): Redis's replies byte for byte, in
// RESP2 and RESP3, subscribed mode and its refusals, and the ordering
// guarantees (a confirmation before any message of its subscription).
// test/e2e/pubsub-differential.test.ts holds the same replies against a
// real redis-server.

import { describe, expect, it } from 'vitest';
import { PATTERN_FEED_TOPIC } from '../../examples/pubsub/broker.ts';
import { REDIS_VERSION } from '../../examples/pubsub/commands.ts';
import { command } from '../helpers/pubsub-host.ts';
import { PubSubLoop } from '../helpers/pubsub-loop.ts';

const bulk = (text: string): string => `$${Buffer.byteLength(text, 'latin1')}\r\n${text}\r\n`;
const confirm = (kind: string, name: string, count: number, head = '*'): string => `${head}3\r\n${bulk(kind)}${bulk(name)}:${count}\r\n`;
const message = (channel: string, text: string, head = '*'): string => `${head}3\r\n${bulk('message')}${bulk(channel)}${bulk(text)}`;
const pmessage = (pattern: string, channel: string, text: string): string => `*4\r\n${bulk('pmessage')}${bulk(pattern)}${bulk(channel)}${bulk(text)}`;

async function ask(loop: PubSubLoop, slot: number, ...args: string[]): Promise<string> {
  await loop.write(slot, command(...args));
  return loop.read(slot);
}

describe('the pub/sub commands', () => {
  it('SUBSCRIBE confirms each channel with the running count; PUBLISH delivers and counts the receivers; UNSUBSCRIBE confirms', async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'SUBSCRIBE', 'news', 'sports', 'news')).toBe(
      confirm('subscribe', 'news', 1) + confirm('subscribe', 'sports', 2) + confirm('subscribe', 'news', 2),
    );
    expect(await ask(loop, 2, 'PUBLISH', 'news', 'hello')).toBe(':1\r\n');
    expect(loop.read(1)).toBe(message('news', 'hello'));
    expect(await ask(loop, 2, 'PUBLISH', 'weather', 'rain')).toBe(':0\r\n');
    expect(await ask(loop, 1, 'UNSUBSCRIBE', 'news', 'never')).toBe(confirm('unsubscribe', 'news', 1) + confirm('unsubscribe', 'never', 1));
    expect(await ask(loop, 2, 'PUBLISH', 'news', 'again')).toBe(':0\r\n');
    expect(await ask(loop, 1, 'UNSUBSCRIBE')).toBe(confirm('unsubscribe', 'sports', 0));
    expect(await ask(loop, 1, 'UNSUBSCRIBE')).toBe('*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n');
    expect(loop.members('c:news')).toEqual([]);
  });

  it('in subscribed mode a RESP2 connection may run only the pub/sub commands; PING answers as a message does', async () => {
    const loop = new PubSubLoop();
    await ask(loop, 1, 'SUBSCRIBE', 'a');
    expect(await ask(loop, 1, 'PING')).toBe('*2\r\n$4\r\npong\r\n$0\r\n\r\n');
    expect(await ask(loop, 1, 'ping', 'hi')).toBe('*2\r\n$4\r\npong\r\n$2\r\nhi\r\n');
    expect(await ask(loop, 1, 'PUBLISH', 'a', 'b')).toBe(
      "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    // Redis checks the argument count before subscribed mode, and knows no command before either.
    expect(await ask(loop, 1, 'PUBLISH', 'a')).toBe("-ERR wrong number of arguments for 'publish' command\r\n");
    expect(await ask(loop, 1, 'GET', 'k')).toBe("-ERR unknown command 'GET', with args beginning with: 'k' \r\n");
    expect(await ask(loop, 1, 'CLIENT', 'SETNAME', 'x')).toBe(
      "-ERR Can't execute 'client|setname': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    expect(await ask(loop, 1, 'UNSUBSCRIBE')).toBe(confirm('unsubscribe', 'a', 0));
    expect(await ask(loop, 1, 'PING')).toBe('+PONG\r\n');
    expect(await ask(loop, 1, 'PING', 'hi')).toBe('$2\r\nhi\r\n');
    expect(await ask(loop, 1, 'PING', 'a', 'b')).toBe("-ERR wrong number of arguments for 'ping' command\r\n");
  });

  it('PSUBSCRIBE delivers a pmessage per matching pattern, counted by PUBLISH; PUNSUBSCRIBE confirms', async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'PSUBSCRIBE', 'news.*', 'h?llo')).toBe(confirm('psubscribe', 'news.*', 1) + confirm('psubscribe', 'h?llo', 2));
    expect(await ask(loop, 1, 'SUBSCRIBE', 'news.tech')).toBe(confirm('subscribe', 'news.tech', 3));
    expect(await ask(loop, 2, 'PUBLISH', 'news.tech', 'chips')).toBe(':2\r\n');
    expect(loop.read(1)).toBe(message('news.tech', 'chips') + pmessage('news.*', 'news.tech', 'chips'));
    expect(await ask(loop, 2, 'PUBLISH', 'hallo', 'x')).toBe(':1\r\n');
    expect(loop.read(1)).toBe(pmessage('h?llo', 'hallo', 'x'));
    expect(await ask(loop, 1, 'PUNSUBSCRIBE', 'news.*')).toBe(confirm('punsubscribe', 'news.*', 2));
    expect(await ask(loop, 2, 'PUBLISH', 'news.sport', 'y')).toBe(':0\r\n');
    expect(await ask(loop, 1, 'PUNSUBSCRIBE')).toBe(confirm('punsubscribe', 'h?llo', 1));
    expect(loop.members(PATTERN_FEED_TOPIC)).toEqual([]);
    expect(await ask(loop, 1, 'PUNSUBSCRIBE')).toBe('*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:1\r\n');
  });

  it('no message reaches a subscriber before its confirmation, even one published in the same turn', async () => {
    const loop = new PubSubLoop();
    // Both requests are handled in one turn; the subscription resolves after the publish.
    loop.protocol.read(1, command('SUBSCRIBE', 'news'));
    loop.protocol.read(2, command('PUBLISH', 'news', 'first'));
    await loop.write(3, '');
    expect(loop.read(1)).toBe(confirm('subscribe', 'news', 1) + message('news', 'first'));
  });

  it('requests pipelined behind a subscription are answered after it, in order', async () => {
    const loop = new PubSubLoop();
    await loop.write(1, Buffer.concat([command('SUBSCRIBE', 'a'), command('PING'), command('PSUBSCRIBE', 'b*'), command('PING', 'x')]));
    expect(loop.read(1)).toBe(`${confirm('subscribe', 'a', 1)}*2\r\n$4\r\npong\r\n$0\r\n\r\n${confirm('psubscribe', 'b*', 2)}*2\r\n$4\r\npong\r\n$1\r\nx\r\n`);
  });

  it('HELLO 3 switches to RESP3: a map reply, pushes, and no subscribed-mode limits', async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'HELLO', '3')).toBe(
      `%7\r\n${bulk('server')}${bulk('redis')}${bulk('version')}${bulk(REDIS_VERSION)}${bulk('proto')}:3\r\n${bulk('id')}:1\r\n` +
        `${bulk('mode')}${bulk('standalone')}${bulk('role')}${bulk('master')}${bulk('modules')}*0\r\n`,
    );
    expect(await ask(loop, 1, 'SUBSCRIBE', 'a')).toBe(confirm('subscribe', 'a', 1, '>'));
    expect(await ask(loop, 1, 'PING')).toBe('+PONG\r\n');
    expect(await ask(loop, 1, 'PUBLISH', 'a', 'self')).toBe(`${message('a', 'self', '>')}:1\r\n`);
    expect(await ask(loop, 1, 'UNSUBSCRIBE', 'a')).toBe(confirm('unsubscribe', 'a', 0, '>'));
    expect(await ask(loop, 1, 'UNSUBSCRIBE')).toBe('>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'GETNAME')).toBe('_\r\n');
    expect((await ask(loop, 1, 'INFO')).startsWith('=')).toBe(true);
    expect((await ask(loop, 1, 'HELLO', '2')).startsWith('*14\r\n')).toBe(true);
  });

  it('HELLO refuses what Redis refuses, with the errors clients act on', async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'HELLO', '4')).toBe('-NOPROTO unsupported protocol version\r\n');
    expect(await ask(loop, 1, 'HELLO', 'x')).toBe('-ERR Protocol version is not an integer or out of range\r\n');
    expect(await ask(loop, 1, 'HELLO', '3', 'FOO')).toBe("-ERR Syntax error in HELLO option 'FOO'\r\n");
    expect(await ask(loop, 1, 'HELLO', '3', 'AUTH', 'someone', 'pw')).toBe('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    expect((await ask(loop, 1, 'HELLO', '3', 'AUTH', 'default', 'pw', 'SETNAME', 'me')).startsWith('%7\r\n')).toBe(true);
    expect(await ask(loop, 1, 'CLIENT', 'GETNAME')).toBe(bulk('me'));
  });

  it('answers what clients send as they connect', async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'CLIENT', 'SETNAME', 'worker-1')).toBe('+OK\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'GETNAME')).toBe(bulk('worker-1'));
    expect(await ask(loop, 1, 'CLIENT', 'SETNAME', 'two words')).toBe('-ERR Client names cannot contain spaces, newlines or special characters.\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'SETINFO', 'LIB-NAME', 'ioredis')).toBe('+OK\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'SETINFO', 'lib-ver', '6.0.0')).toBe('+OK\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'SETINFO', 'other', 'x')).toBe("-ERR Unrecognized option 'other'\r\n");
    expect(await ask(loop, 1, 'CLIENT', 'ID')).toBe(':1\r\n');
    expect(await ask(loop, 1, 'CLIENT', 'maint_notifications', 'ON')).toBe("-ERR unknown subcommand 'maint_notifications'. Try CLIENT HELP.\r\n");
    expect(await ask(loop, 1, 'CLIENT')).toBe("-ERR wrong number of arguments for 'client' command\r\n");
    expect(await ask(loop, 1, 'CLIENT', 'SETNAME')).toBe("-ERR wrong number of arguments for 'client|setname' command\r\n");
    expect(await ask(loop, 1, 'SELECT', '0')).toBe('+OK\r\n');
    expect(await ask(loop, 1, 'SELECT', '16')).toBe('-ERR DB index is out of range\r\n');
    expect(await ask(loop, 1, 'SELECT', 'x')).toBe('-ERR value is not an integer or out of range\r\n');
    expect(await ask(loop, 1, 'COMMAND', 'DOCS')).toBe('*0\r\n');
    expect(await ask(loop, 1, 'COMMAND')).toBe('*0\r\n');
    expect(await ask(loop, 1, 'CONFIG', 'GET', 'save')).toBe(`*2\r\n${bulk('save')}${bulk('')}`);
    expect(await ask(loop, 1, 'CONFIG', 'GET', 'APPENDONLY', 'nothing*')).toBe(`*2\r\n${bulk('appendonly')}${bulk('no')}`);
    expect(await ask(loop, 1, 'CONFIG', 'SET', 'save', '')).toBe("-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n");
    expect(await ask(loop, 1, 'AUTH', 'pw')).toBe(
      '-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n',
    );
    expect(await ask(loop, 1, 'ECHO', 'hi')).toBe(bulk('hi'));
    expect(await ask(loop, 1, 'INFO')).toMatch(/^\$\d+\r\n# Server\r\nredis_version:[\s\S]*loading:0\r\n/);
  });

  it("an unknown command gets Redis's error, with at most 128 characters of arguments, and the connection stays usable", async () => {
    const loop = new PubSubLoop();
    expect(await ask(loop, 1, 'FLY', 'to', 'the\r\nmoon')).toBe("-ERR unknown command 'FLY', with args beginning with: 'to' 'the  moon' \r\n");
    const long = 'x'.repeat(200);
    expect(await ask(loop, 1, 'NOPE', long, 'more')).toBe(`-ERR unknown command 'NOPE', with args beginning with: '${'x'.repeat(128)}' \r\n`);
    await loop.write(1, 'PING\r\n');
    expect(loop.read(1)).toBe('+PONG\r\n');
  });

  it('RESET ends every subscription without a reply each, and returns to RESP2', async () => {
    const loop = new PubSubLoop();
    await ask(loop, 1, 'HELLO', '3');
    await ask(loop, 1, 'SUBSCRIBE', 'a', 'b');
    await ask(loop, 1, 'PSUBSCRIBE', '*');
    expect(await ask(loop, 1, 'RESET')).toBe('+RESET\r\n');
    expect(await ask(loop, 2, 'PUBLISH', 'a', 'gone')).toBe(':0\r\n');
    expect(loop.read(1)).toBe('');
    expect(loop.members('c:a')).toEqual([]);
    expect(loop.members(PATTERN_FEED_TOPIC)).toEqual([]);
    expect(await ask(loop, 1, 'SUBSCRIBE', 'c')).toBe(confirm('subscribe', 'c', 1));
  });

  it('QUIT replies +OK and ends the connection; what was pipelined after it is not answered', async () => {
    const loop = new PubSubLoop();
    await loop.write(1, Buffer.concat([command('QUIT'), command('PING')]));
    expect(loop.read(1)).toBe('+OK\r\n');
    expect(loop.ended(1)).toBe(true);
  });

  it('a connection that goes away is no longer counted by PUBLISH, nor sent to', async () => {
    const loop = new PubSubLoop();
    await ask(loop, 1, 'SUBSCRIBE', 'a');
    await ask(loop, 3, 'PSUBSCRIBE', 'a');
    expect(await ask(loop, 2, 'PUBLISH', 'a', 'x')).toBe(':2\r\n');
    loop.disconnect(1);
    loop.disconnect(3);
    expect(await ask(loop, 2, 'PUBLISH', 'a', 'y')).toBe(':0\r\n');
  });

  it('channels are binary: any bytes, long ones too, each its own topic', async () => {
    const loop = new PubSubLoop();
    const binary = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80]).toString('latin1');
    const long = 'c'.repeat(1000);
    await ask(loop, 1, 'SUBSCRIBE', binary, long);
    expect(await ask(loop, 2, 'PUBLISH', binary, 'b')).toBe(':1\r\n');
    expect(await ask(loop, 2, 'PUBLISH', long, 'l')).toBe(':1\r\n');
    expect(await ask(loop, 2, 'PUBLISH', `${long}x`, 'no')).toBe(':0\r\n');
    expect(loop.read(1)).toBe(message(binary, 'b') + message(long, 'l'));
  });
});
