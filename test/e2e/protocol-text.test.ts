// Text and binary messages through a protocol that cares (the handshake
// fixture: "T <text>" lines are text, other lines binary; a send goes out as
// "T <payload>" when it was a string, "B <payload>" when it was bytes). Every
// consumer API sees which a message is; every send API says which it sends.

import { describe, expect, it } from 'vitest';
import { listen, openPipeline } from '../../src/main/index.ts';
import { waitFor } from '../helpers/clients.ts';
import { LineClient } from '../helpers/line-client.ts';

const HANDSHAKE = new URL('../fixtures/protocols/handshake.ts', import.meta.url);

describe('text and binary messages', () => {
  it('a data listener is told which messages the protocol delivered as text', async () => {
    const server = await listen({ port: 0, workers: 2, protocol: { module: HANDSHAKE } });
    const client = await LineClient.open(server.port);
    try {
      const seen: Array<[string, boolean]> = [];
      server.on('data', (_id, bytes, text) => seen.push([Buffer.from(bytes).toString(), text]));
      client.send('HELLO /', 'T hello', 'raw bytes', 'T héllo wörld');
      await waitFor(() => seen.length === 3, 5000, 'three messages');
      expect(seen).toEqual([
        ['hello', true],
        ['raw bytes', false],
        ['héllo wörld', true],
      ]);
    } finally {
      client.destroy();
      await server.shutdown();
    }
  });

  it('recvData() items carry the text flag', async () => {
    const server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE } });
    const first = server.recvData();
    const client = await LineClient.open(server.port);
    try {
      client.send('HELLO /', 'T text', 'binary');
      const a = await first;
      const b = await server.recvData();
      expect([a?.data.toString(), a?.text, b?.data.toString(), b?.text]).toEqual(['text', true, 'binary', false]);
    } finally {
      client.destroy();
      await server.shutdown();
    }
  });

  it("a blocking pipeline's next() and recvData() carry the text flag", async () => {
    const server = await listen({ port: 0, workers: 1, protocol: { module: HANDSHAKE }, consumer: 'external' });
    const pipe = openPipeline(await server.pipelineHandle({ consume: true }));
    const client = await LineClient.open(server.port);
    try {
      client.send('HELLO /', 'T one', 'two', 'T three');
      await client.until('WELCOME');
      // Give the worker time to put the messages in the ring: next() blocks this thread.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const events = [pipe.next(2000), pipe.next(2000), pipe.next(2000)];
      expect(events.map((e) => e?.type)).toEqual(['open', 'data', 'data']);
      expect(events.slice(1).map((e) => (e?.type === 'data' ? [Buffer.from(e.data).toString(), e.text] : null))).toEqual([
        ['one', true],
        ['two', false],
      ]);
      const third = pipe.recvData(2000);
      expect([third?.data.toString(), third?.text]).toEqual(['three', true]);
    } finally {
      client.destroy();
      await server.shutdown();
    }
  });

  it('send() and sendMany() of a string reach the protocol as text, of bytes as binary: small, empty, or larger than a ring record', async () => {
    // A 4 KiB command ring carries at most 2,032 bytes a record: the large sends go in pieces.
    const server = await listen({ port: 0, workers: 2, protocol: { module: HANDSHAKE }, commandRingBytes: 4096 });
    const ids: number[] = [];
    server.on('open', (id) => ids.push(id));
    const clients = await Promise.all(Array.from({ length: 4 }, () => LineClient.open(server.port)));
    try {
      for (const client of clients) client.send('HELLO /');
      await waitFor(() => ids.length === 4, 5000, 'four opens');
      const large = 'x'.repeat(10_000);
      for (const id of ids) {
        server.send(id, 'small text');
        server.send(id, Buffer.from('small bytes'));
        server.send(id, large);
        server.send(id, Buffer.from(large));
      }
      server.sendMany(ids, 'to everyone');
      server.sendMany(ids, Buffer.from('bytes to everyone'));
      // An empty message is a message too.
      for (const id of ids) {
        server.send(id, '');
        server.send(id, new Uint8Array(0));
      }
      server.sendMany(ids, '');
      for (const client of clients) {
        await client.until('B bytes to everyone');
        await client.until('T ');
        await waitFor(() => client.lines.length === 10, 5000, 'the empty messages');
        expect(client.lines).toEqual([
          'WELCOME',
          'T small text',
          'B small bytes',
          `T ${large}`,
          `B ${large}`,
          'T to everyone',
          'B bytes to everyone',
          'T ',
          'B ',
          'T ',
        ]);
      }
    } finally {
      for (const client of clients) client.destroy();
      await server.shutdown();
    }
  });

  it('the built-in framings deliver every message as binary', async () => {
    const server = await listen({ port: 0, workers: 1, protocol: 'delimiter' });
    const client = await LineClient.open(server.port);
    try {
      const seen: boolean[] = [];
      server.on('data', (_id, _bytes, text) => seen.push(text));
      client.send('T looks like text', 'plain');
      await waitFor(() => seen.length === 2, 5000, 'two frames');
      expect(seen).toEqual([false, false]);
    } finally {
      client.destroy();
      await server.shutdown();
    }
  });
});
