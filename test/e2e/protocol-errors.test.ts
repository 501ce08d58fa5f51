// A protocol that throws or hands the worker nonsense closes only its own
// connection, with 'error', and is counted in protocolErrors; the worker and
// every other connection carry on. The misbehaving protocol is
// test/fixtures/protocols/faulty.ts: a line protocol whose connections
// commit the fault a line (or, for encode(), a reply) names.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { waitFor } from '../helpers/clients.ts';
import { LineClient } from '../helpers/line-client.ts';
import { EventRecorder } from '../helpers/recorder.ts';

const FAULTY = new URL('../fixtures/protocols/faulty.ts', import.meta.url);
const HEALTHY = 40;

describe('a protocol that misbehaves', () => {
  let server: Server;
  let recorder: EventRecorder;
  let healthy: LineClient[];
  /** The application's side: each line comes back as a reply, framed by the protocol's encode(). */
  const idOf = new Map<number, number>();

  beforeAll(async () => {
    server = await listen({ port: 0, workers: 2, protocol: { module: FAULTY } });
    recorder = new EventRecorder(server);
    server.on('data', (id, line) => {
      const text = Buffer.from(line).toString();
      // "reply <fault>" asks for a reply whose encoding commits the fault.
      server.send(id, text.startsWith('reply ') ? text.slice(6) : `echo ${text}`);
    });
    server.on('open', (id, info) => idOf.set(info.port, id));
    healthy = await Promise.all(Array.from({ length: HEALTHY }, () => LineClient.open(server.port)));
    await roundTrip('before');
  });

  afterAll(async () => {
    for (const client of healthy) client.destroy();
    await server.shutdown();
    expect(recorder.violations).toEqual([]);
  });

  /** Every healthy connection gets an echo of a fresh line. */
  async function roundTrip(tag: string): Promise<void> {
    for (const [i, client] of healthy.entries()) client.send(`${tag} ${i}`);
    await Promise.all(healthy.map((client, i) => client.until(`echo ${tag} ${i}`)));
  }

  /** Opens an offender, has it send `lines`, and returns its close reason and how protocolErrors moved. */
  async function offend(...lines: string[]): Promise<{ reason: string | undefined; errors: number; client: LineClient }> {
    const before = server.stats().protocolErrors;
    const client = await LineClient.open(server.port);
    client.send('hello');
    await client.until('echo hello');
    const id = idOf.get(client.socket.localPort!)!;
    client.send(...lines);
    await client.untilEnd();
    await waitFor(() => recorder.closed.has(id), 5000, 'the close event');
    return { reason: recorder.closed.get(id), errors: server.stats().protocolErrors - before, client };
  }

  const faults: Array<[string, string[]]> = [
    ['throws in read()', ['throw']],
    ['delivers a string, not bytes', ['deliver-string']],
    ['delivers for another slot', ['other-slot']],
    ['closes with an unknown reason', ['bad-reason']],
    ['opens a connection that is open already', ['open-again']],
    ['sets a timer for a negative delay', ['bad-delay']],
    ['throws in timeout()', ['timer-throws']],
    ['throws in encode()', ['reply encode-throw']],
    ['returns a string from encode()', ['reply encode-string']],
    ['returns an array holding a number from encode()', ['reply encode-mixed']],
  ];

  it.each(faults)('one that %s closes only that connection, with error, and is counted', async (_what, lines) => {
    const { reason, errors, client } = await offend(...lines);
    expect(reason).toBe('error');
    expect(errors).toBe(1);
    // Nothing the fault asked for reached the application or the client.
    expect(client.lines).toEqual(['echo hello']);
    await roundTrip(`after ${lines[0]!.replace(/^reply /, '')}`);
  });

  it('a host call from outside any protocol call (a timer of its own) is counted and ignored; its connection carries on', async () => {
    const before = server.stats().protocolErrors;
    const client = await LineClient.open(server.port);
    try {
      client.send('later');
      await client.until('echo later');
      await waitFor(() => server.stats().protocolErrors === before + 1, 5000, 'the late call to be counted');
      client.send('still here');
      await client.until('echo still here');
      expect(client.lines).not.toContain('too late');
      expect(client.ended).toBe(false);
    } finally {
      client.destroy();
    }
  });

  it('a message delivered after its own close() goes nowhere and is not an error', async () => {
    const framesBefore = server.stats().framesIn;
    const { reason, errors, client } = await offend('deliver-after-close');
    expect(reason).toBe('peer');
    expect(errors).toBe(0);
    expect(client.lines).toEqual(['echo hello', 'bye']);
    // Only the offender's "hello" was delivered.
    expect(server.stats().framesIn - framesBefore).toBe(1);
  });

  it('a protocol whose connect() throws for every third connection: those close with error at once, the others converse', async () => {
    const other = await listen({ port: 0, workers: 1, protocol: { module: FAULTY, options: { throwInConnectEvery: 3 } } });
    try {
      const otherRecorder = new EventRecorder(other);
      other.on('data', (id, line) => other.send(id, `echo ${Buffer.from(line).toString()}`));
      const clients = await Promise.all(Array.from({ length: 30 }, () => LineClient.open(other.port)));
      await waitFor(() => otherRecorder.closed.size === 10, 5000, 'ten closes');
      expect(otherRecorder.reasons()).toEqual({ error: 10 });
      expect(other.stats().protocolErrors).toBe(10);
      // The server's close events come before the clients see their sockets end.
      await waitFor(() => clients.filter((client) => client.ended).length >= 10, 5000, 'ten clients see their end');
      const alive = clients.filter((client) => !client.ended);
      expect(alive.length).toBe(20);
      for (const [i, client] of alive.entries()) client.send(`line ${i}`);
      await Promise.all(alive.map((client, i) => client.until(`echo line ${i}`)));
      for (const client of clients) client.destroy();
    } finally {
      await other.shutdown();
    }
  });

  it('250 connections, every fifth committing a fault at once: exactly the offenders close with error, the others keep echoing', async () => {
    const before = server.stats().protocolErrors;
    const crowd = await Promise.all(Array.from({ length: 250 }, () => LineClient.open(server.port)));
    try {
      for (const [i, client] of crowd.entries()) client.send(i % 5 === 0 ? 'throw' : `crowd ${i}`);
      await Promise.all(crowd.map((client, i) => (i % 5 === 0 ? client.untilEnd() : client.until(`echo crowd ${i}`))));
      await waitFor(() => server.stats().protocolErrors === before + 50, 5000, '50 protocol errors');
      crowd.forEach((client, i) => {
        if (i % 5 !== 0) client.send(`again ${i}`);
      });
      await Promise.all(crowd.map((client, i) => (i % 5 === 0 ? undefined : client.until(`echo again ${i}`))));
      expect(crowd.filter((client) => client.ended).length).toBe(50);
      await roundTrip('after the crowd');
      expect(server.stats().workerRestarts).toBe(0);
    } finally {
      for (const client of crowd) client.destroy();
    }
  });
});
