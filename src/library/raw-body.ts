import type { IncomingMessage } from 'node:http';

/** Bytes saved by `keepRawBody` while a host's body parser read the request. */
const kept = new WeakMap<IncomingMessage, Buffer>();

/**
 * A `verify` hook for Express's body parsers — `express.json({ verify: keepRawBody })` — that
 * keeps the exact bytes, so signatures still verify when a parser ran before crmsync.
 */
export function keepRawBody(req: IncomingMessage, _res: unknown, body: Buffer): void {
  kept.set(req, Buffer.from(body));
}

/**
 * The request body as bytes, read at most to `limit + 1` bytes (enough for the engine to
 * answer 413 exactly as the service does). If a body parser already consumed the stream, the
 * bytes it kept (`keepRawBody`) or else its result encoded again: right for the WP Fusion URL
 * format and unsigned bodies, but a CRM's signature over the original bytes cannot match.
 */
export async function rawBodyOf(req: IncomingMessage & { body?: unknown }, limit: number): Promise<Buffer> {
  const saved = kept.get(req);
  if (saved) return saved;
  if (req.readableEnded) return encodeAgain(req.body, String(req.headers['content-type'] ?? ''));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: Error | null) => {
      req.off('data', onData).off('end', onEnd).off('error', done);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) done(null);
    };
    const onEnd = () => done(null);
    req.on('data', onData).on('end', onEnd).on('error', done);
  });
}

function encodeAgain(body: unknown, contentType: string): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  if (/urlencoded/i.test(contentType)) return Buffer.from(formEncode(body as Record<string, unknown>));
  return Buffer.from(JSON.stringify(body));
}

/** `{data: {email: 'x'}}` → `data[email]=x`: the bracket form a CRM's form posts use. */
function formEncode(value: Record<string, unknown>, prefix = ''): string {
  return Object.entries(value)
    .flatMap(([key, v]) => {
      const name = prefix ? `${prefix}[${key}]` : key;
      if (v !== null && typeof v === 'object') return [formEncode(v as Record<string, unknown>, name)].filter(Boolean);
      return [`${encodeURIComponent(name)}=${encodeURIComponent(String(v ?? ''))}`];
    })
    .join('&');
}
