/**
 * The load generator of the ingest benchmark, run as its own child process (forked by
 * bench/ingest.ts) so autocannon never shares an event loop with a server under test.
 * Receives one `LoadRequest` over IPC, runs autocannon, answers with a `LoadResult`.
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  /**
   * Base URL of the server, e.g. http://127.0.0.1:1234; several URLs (one per crmsync instance)
   * spread the connections round-robin: connection i goes to url[i % n] (autocannon's own
   * multiple-URL support, one load generator process whatever the number of targets).
   */
  url: string | string[];
  accessKey: string;
  connections: number;
  durationSec: number;
  /** Webhook URLs cycle over contact ids 1..contacts, in a pseudo-random order. */
  contacts: number;
  seed: number;
}

export interface LoadResult {
  requestsPerSec: number;
  requestsTotal: number;
  sent: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  durationSec: number;
  statusCodes: Record<string, number>;
}

function run(req: LoadRequest): Promise<LoadResult> {
  // A small LCG: reproducible contact sequence, same for every target.
  let state = req.seed >>> 0 || 1;
  const nextContact = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state % req.contacts) + 1;
  };
  const key = encodeURIComponent(req.accessKey);
  return new Promise((resolve, reject) => {
    autocannon(
      {
        // @types/autocannon says string; autocannon 8 also takes an array (lib/url.js ofURL).
        url: req.url as string,
        connections: req.connections,
        duration: req.durationSec,
        method: 'GET',
        requests: [
          {
            method: 'GET',
            setupRequest: (r) => ({ ...r, path: `/?wpf_action=update&access_key=${key}&contact_id=${nextContact()}` }),
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const codes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) codes[code] = stat.count ?? 0;
        resolve({
          requestsPerSec: result.requests.average,
          requestsTotal: result.requests.total,
          sent: result.requests.sent,
          ok2xx: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
          durationSec: result.duration,
          statusCodes: codes,
        });
      },
    );
  });
}

process.once('message', (msg) => {
  run(msg as LoadRequest).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (error: unknown) => process.send?.({ ok: false, error: String((error as Error)?.stack ?? error) }, () => process.exit(1)),
  );
});
process.on('disconnect', () => process.exit(0));
