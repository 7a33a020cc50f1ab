import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The Prometheus metrics crmsync exposes at /metrics. One registry per service instance. */
export function createMetrics(queueCounts?: () => Promise<Record<string, number>>) {
  const registry = new Registry();
  const m = {
    registry,
    webhooksReceived: new Counter({ name: 'crmsync_webhooks_received_total', help: 'Webhooks accepted and stored', labelNames: ['action'], registers: [registry] }),
    webhooksCoalesced: new Counter({ name: 'crmsync_webhooks_coalesced_total', help: 'Webhooks merged into a pending reconcile of the same contact', registers: [registry] }),
    webhooksRejected: new Counter({ name: 'crmsync_webhooks_rejected_total', help: 'Webhooks refused', labelNames: ['code'], registers: [registry] }),
    queueDepth: new Gauge({
      name: 'crmsync_queue_jobs',
      help: 'Jobs in the queue by state',
      labelNames: ['state'],
      registers: [registry],
      // Read from the store when scraped, so every instance reports the shared queue.
      async collect() {
        if (!queueCounts) return;
        for (const [state, n] of Object.entries(await queueCounts())) this.set({ state }, n);
      },
    }),
    reconcileLatency: new Histogram({
      name: 'crmsync_reconcile_latency_seconds',
      help: 'From the first webhook of a pass to its commit',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    reconciles: new Counter({ name: 'crmsync_reconciles_total', help: 'Reconcile passes by outcome', labelNames: ['outcome'], registers: [registry] }),
    crmCalls: new Counter({ name: 'crmsync_crm_calls_total', help: 'HTTP calls made to the CRM', labelNames: ['status'], registers: [registry] }),
    crmRateLimited: new Counter({ name: 'crmsync_crm_rate_limited_total', help: '429 answers received from the CRM', registers: [registry] }),
    sweepRuns: new Counter({ name: 'crmsync_sweep_runs_total', help: 'Periodic sweeps of recently changed CRM contacts, by outcome', labelNames: ['outcome'], registers: [registry] }),
    sweepContacts: new Counter({ name: 'crmsync_sweep_contacts_total', help: 'Contacts the sweep found changed: queued (a local user) or no_local_user', labelNames: ['outcome'], registers: [registry] }),
    sweepLastRun: new Gauge({ name: 'crmsync_sweep_last_run_timestamp_seconds', help: 'When the last successful sweep started', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
