// The pub/sub example's protocol module (examples/pubsub/protocol.ts) as a
// part, against a recording host: replies counted in order, a publish's
// frame written as it is (or as a RESP3 push), the pattern feed matched per
// connection, and deliveries held back while a subscription is made.

import { describe, expect, it } from 'vitest';
import { PATTERN_FEED_TOPIC } from '../../examples/pubsub/broker.ts';
import createPubSubProtocol from '../../examples/pubsub/protocol.ts';
import { Tag, channelDelivery, channelOf, publication, tagged } from '../../examples/pubsub/wire.ts';
import type { Protocol } from '../../src/main/index.ts';
import { RecordingHost, command, joined } from '../helpers/pubsub-host.ts';

function setUp(): { host: RecordingHost; protocol: Protocol; encode: (slot: number, payload: Uint8Array) => string } {
  const host = new RecordingHost();
  const protocol = createPubSubProtocol(host, undefined);
  return { host, protocol, encode: (slot, payload) => joined(protocol.encode!(slot, payload, false)).toString('latin1') };
}

const message = (channel: string, text: string): Buffer => publication(Buffer.from(channel), Buffer.from(text));

describe('the pub/sub protocol in the I/O workers', () => {
  it('delivers every request, PING included, and writes each reply as it is', () => {
    const { host, protocol, encode } = setUp();
    protocol.read(0, Buffer.concat([command('PING'), command('SUBSCRIBE', 'a')]));
    expect(host.deliveredTo(0).map((r) => r.toString())).toEqual([command('PING').toString(), command('SUBSCRIBE', 'a').toString()]);
    expect(encode(0, Buffer.from('+PONG\r\n'))).toBe('+PONG\r\n');
  });

  it('writes a publish as its RESP2 message frame, and as a push to a RESP3 connection, from the one payload', () => {
    const { encode } = setUp();
    const delivery = channelDelivery(message('news', 'hello'));
    encode(1, tagged(Tag.RESP_VERSION, Uint8Array.of(3)));
    expect(encode(0, delivery)).toBe('*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n');
    expect(encode(1, delivery)).toBe('>3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n');
    expect(encode(0, delivery)).toBe('*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n');
  });

  it("matches the pattern feed against each connection's own patterns: a pmessage per match, nothing otherwise", () => {
    const { encode } = setUp();
    encode(0, tagged(Tag.ADD_PATTERN, Buffer.from('news.*')));
    encode(0, tagged(Tag.ADD_PATTERN, Buffer.from('*.sports')));
    encode(1, tagged(Tag.ADD_PATTERN, Buffer.from('weather.*')));
    const feed = message('news.sports', 'goal');
    const tail = '$11\r\nnews.sports\r\n$4\r\ngoal\r\n';
    expect(encode(0, feed)).toBe(`*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n${tail}*4\r\n$8\r\npmessage\r\n$8\r\n*.sports\r\n${tail}`);
    expect(encode(1, feed)).toBe('');
    expect(encode(2, feed)).toBe('');
    encode(0, tagged(Tag.REMOVE_PATTERN, Buffer.from('news.*')));
    expect(encode(0, message('news.sports', 'again'))).toBe('*4\r\n$8\r\npmessage\r\n$8\r\n*.sports\r\n$11\r\nnews.sports\r\n$5\r\nagain\r\n');
    encode(0, tagged(Tag.CLEAR_PATTERNS));
    expect(encode(0, message('news.sports', 'more'))).toBe('');
  });

  it('holds deliveries back from HOLD until the reply RELEASE carries, then writes them after it', () => {
    const { protocol, encode } = setUp();
    protocol.read(0, command('SUBSCRIBE', 'news'));
    encode(0, tagged(Tag.HOLD));
    encode(0, tagged(Tag.ADD_PATTERN, Buffer.from('n*')));
    const published = message('news', 'early');
    expect(encode(0, channelDelivery(published))).toBe('');
    expect(encode(0, published)).toBe('');
    const confirmation = '*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n';
    expect(encode(0, tagged(Tag.RELEASE, Buffer.from(confirmation)))).toBe(
      `${confirmation}*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nearly\r\n*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nearly\r\n`,
    );
    expect(encode(0, channelDelivery(message('news', 'later')))).toBe('*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nlater\r\n');
  });

  it('ignores a pattern feed payload that is not a message frame (it may come from anyone with access to Redis)', () => {
    const { encode } = setUp();
    encode(0, tagged(Tag.ADD_PATTERN, Buffer.from('*')));
    expect(encode(0, Buffer.from([Tag.FEED, Tag.MESSAGE, 0x2a, 0x33]))).toBe('');
    expect(encode(0, Buffer.from([Tag.FEED, Tag.MESSAGE, ...Buffer.from('*3\r\n$7\r\nmessage\r\n$99\r\nab\r\n')]))).toBe('');
    expect(channelOf(Buffer.from('*3\r\n$7\r\nmessage\r\n$x\r\n'))).toBeUndefined();
  });

  it('a protocol error waits for the replies before it, which count the RELEASE reply but no delivery', () => {
    const { host, protocol, encode } = setUp();
    protocol.read(0, Buffer.concat([command('SUBSCRIBE', 'a'), Buffer.from('*1\r\n$x\r\n')]));
    encode(0, tagged(Tag.HOLD));
    encode(0, channelDelivery(message('a', 'x')));
    expect(host.closed.has(0)).toBe(false);
    encode(0, tagged(Tag.RELEASE, Buffer.from('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n')));
    expect(host.closed.get(0)?.finalBytes?.toString()).toBe(
      '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n-ERR Protocol error: invalid bulk length\r\n',
    );
  });

  it('forgets a connection on disconnect: RESP version, patterns, held deliveries', () => {
    const { protocol, encode } = setUp();
    encode(4, tagged(Tag.RESP_VERSION, Uint8Array.of(3)));
    encode(4, tagged(Tag.ADD_PATTERN, Buffer.from('*')));
    encode(4, tagged(Tag.HOLD));
    protocol.disconnect!(4);
    expect(encode(4, channelDelivery(message('a', 'b')))).toBe('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n');
    expect(encode(4, message('a', 'b'))).toBe('');
    expect(PATTERN_FEED_TOPIC).not.toMatch(/^[ch]:/);
  });
});
