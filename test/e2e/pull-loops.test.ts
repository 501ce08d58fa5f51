import { afterEach, describe, expect, it } from 'vitest';
import { type Server, listen } from '../../src/main/index.ts';
import { closeAll, connectMany, converse, waitFor } from '../helpers/clients.ts';

describe("the Go original's pull style", () => {
  let server: Server | undefined;

  afterEach(async () => {
    await server?.shutdown();
    server = undefined;
  });

  it('10 concurrent recvData loops echo 500 connections while recvOpen and recvClose loops see each connection once, in order', async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    const opened = new Set<number>();
    const closed = new Set<number>();
    const violations: string[] = [];
    let running = true;

    const openLoop = async (): Promise<void> => {
      while (running) {
        const event = await s.recvOpen();
        if (event === null) break;
        if (opened.has(event.id)) violations.push(`open twice ${event.id}`);
        if (event.address !== '127.0.0.1' || event.localPort !== s.port) violations.push(`bad open info ${JSON.stringify(event)}`);
        opened.add(event.id);
      }
    };
    const closeLoop = async (): Promise<void> => {
      while (running) {
        const event = await s.recvClose();
        if (event === null) break;
        if (!opened.has(event.id)) violations.push(`close before open ${event.id}`);
        if (closed.has(event.id)) violations.push(`close twice ${event.id}`);
        closed.add(event.id);
      }
    };
    let echoed = 0;
    const dataLoop = async (): Promise<void> => {
      while (running) {
        const event = await s.recvData();
        if (event === null) break;
        const { id, data } = event;
        if (!opened.has(id) || closed.has(id)) violations.push(`data outside open..close ${id}`);
        s.send(id, data);
        echoed++;
      }
    };
    void openLoop();
    void closeLoop();
    for (let i = 0; i < 10; i++) void dataLoop();

    const sockets = await connectMany(s.port, 500);
    await Promise.all(sockets.map((socket, i) => converse(socket, 77 + i, 40)));
    await closeAll(sockets);
    await waitFor(() => closed.size === 500, 10_000, '500 closes');
    running = false;
    expect(opened.size).toBe(500);
    expect(echoed).toBeGreaterThanOrEqual(500);
    expect(violations).toEqual([]);
  });

  it('a kind nobody pulls does not stall the others', async () => {
    const s = (server = await listen({ port: 0, workers: 2 }));
    // Only data is pulled: opens and closes queue on their own.
    let running = true;
    const loop = async (): Promise<void> => {
      while (running) {
        const event = await s.recvData();
        if (event === null) break;
        const { id, data } = event;
        s.send(id, data);
      }
    };
    void loop();
    const sockets = await connectMany(s.port, 100);
    await Promise.all(sockets.map((socket, i) => converse(socket, i, 20)));
    running = false;
    // The opens nobody asked for were counted and let go, not kept.
    expect(s.stats().unconsumedEvents).toBe(100);
    await closeAll(sockets);
  });

  it('data of a connection whose open is still queued waits until the open is taken', async () => {
    const s = (server = await listen({ port: 0, workers: 1 }));
    // Pull one open, so opens are a consumed kind.
    const firstOpen = s.recvOpen();
    const [a] = await connectMany(s.port, 1);
    await firstOpen;
    // A data puller waits; a second connection opens and sends, but nobody pulls its open yet.
    let dataTaken: { id: number; text: string } | undefined;
    const pulling = s.recvData().then((event) => {
      dataTaken = { id: event!.id, text: event!.data.toString() };
    });
    const [b] = await connectMany(s.port, 1);
    b!.write('hello');
    await waitFor(() => s.stats().framesIn === 1, 5000, 'the frame to reach the server');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dataTaken).toBeUndefined();
    const secondOpen = await s.recvOpen();
    await pulling;
    expect(dataTaken).toEqual({ id: secondOpen!.id, text: 'hello' });
    a!.destroy();
    b!.destroy();
  });
});
