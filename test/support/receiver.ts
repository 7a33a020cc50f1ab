import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, as received (signatures are verified over it). */
  body: string;
  status: number;
}

/**
 * A host application's event endpoint: a real HTTP server that records every request and
 * answers with the status `respond` picks (200 unless told otherwise).
 */
export async function startReceiver(respond: (request: { body: string; n: number }) => number = () => 200) {
  const received: Received[] = [];
  let answer = respond;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = answer({ body, n: received.length + 1 });
      received.push({ headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/crmsync`,
    received,
    /** Changes how later requests are answered. */
    respondWith(next: (request: { body: string; n: number }) => number) {
      answer = next;
    },
    /** The events received, parsed, in arrival order. */
    events: () => received.map((r) => ({ ...(JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, any> }), id: r.headers['webhook-id'] as string, status: r.status })),
    /** Stops listening and drops every open (keep-alive) connection: the next request is refused. */
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
