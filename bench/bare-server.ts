/**
 * The baseline of the ingest benchmark: a bare `node:http` server answering every request
 * with 200 `{}`. Run as its own child process (forked by bench/ingest.ts); it reports its
 * port over IPC and stops when the parent disconnects.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{}');
const server = createServer((req, res) => {
  // Read (and drop) the body like a real handler would, then answer.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => process.exit(0));
