// The README's protocol example is the module test/fixtures/protocols/readme-lines.ts,
// word for word (but for where it imports its types from), and it works:
// loaded by URL by every I/O worker, lines in as messages, sends out as
// lines, an overlong line closed with frame-too-large.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listen } from '../../src/main/index.ts';
import { waitFor } from '../helpers/clients.ts';
import { LineClient } from '../helpers/line-client.ts';
import { EventRecorder } from '../helpers/recorder.ts';

const MODULE = new URL('../fixtures/protocols/readme-lines.ts', import.meta.url);

describe("the README's protocol example", () => {
  it('is in the README as it is in the module the test loads', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const code = readFileSync(MODULE, 'utf8').replace(
      "import type { ProtocolFactory } from '../../../src/main/index.ts';",
      "import type { ProtocolFactory } from 'flamingo'; // types only: the workers load nothing else",
    );
    expect(readme).toContain(`\`\`\`ts\n${code}\`\`\``);
  });

  it('delivers each line as a message, sends each reply as a line, and closes a line over maxLine with frame-too-large', async () => {
    const server = await listen({ port: 0, workers: 2, protocol: { module: MODULE, options: { maxLine: 100 } } });
    try {
      const recorder = new EventRecorder(server);
      server.on('data', (id, line) => server.send(id, `you said: ${Buffer.from(line).toString()}`));
      const client = await LineClient.open(server.port);
      const long = await LineClient.open(server.port);
      client.socket.write('hel');
      client.socket.write('lo\nworld\n');
      long.socket.write('x'.repeat(101));
      await client.until('you said: world');
      expect(client.lines).toEqual(['you said: hello', 'you said: world']);
      await long.untilEnd();
      await waitFor(() => recorder.closed.size === 1, 5000, 'the close');
      expect([...recorder.closed.values()]).toEqual(['frame-too-large']);
      client.destroy();
    } finally {
      await server.shutdown();
    }
  });
});
