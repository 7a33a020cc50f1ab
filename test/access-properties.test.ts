import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listOperations } from '../src/store/operations.js';
import { testDialect } from './support/database.js';
import { ManualClock, startHarness, type Harness } from './support/harness.js';
import { countTagWrites, rulesConfigFile } from './support/rules.js';

/**
 * Random interleavings of local tag changes, CRM user edits, held / duplicated / spurious
 * webhooks, clock jumps, stale reads and purchase grants, driven through the real service and
 * the sandbox CRM with a manual clock. After every step: a tag the app changed last is as the
 * app left it (no older snapshot undoes it), and a course with an active purchase grant stays
 * granted. After things settle: local tags equal the CRM's, tag grants follow the tags, and
 * echoes and repeated webhooks make no outbound call.
 */
const SETTLE_MS = 60_000;
const TAGS = ['bought-101', 'bundle', 'vip'] as const;
type Tag = (typeof TAGS)[number];

type Step =
  | { k: 'localApply' | 'localRemove' | 'crmApply' | 'crmRemove'; tag: Tag }
  | { k: 'drain' }
  | { k: 'webhook' }
  | { k: 'hold' }
  | { k: 'release'; copies: number }
  | { k: 'advance'; ms: number }
  | { k: 'stale'; depth: number }
  | { k: 'purchase' }
  | { k: 'refund' };

const tag = fc.constantFrom(...TAGS);
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constantFrom('localApply' as const, 'localRemove' as const), tag }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constantFrom('crmApply' as const, 'crmRemove' as const), tag }), weight: 3 },
  { arbitrary: fc.constant({ k: 'drain' as const }), weight: 3 },
  { arbitrary: fc.constant({ k: 'webhook' as const }), weight: 1 },
  { arbitrary: fc.constant({ k: 'hold' as const }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('release' as const), copies: fc.integer({ min: 1, max: 3 }) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.constantFrom(200, 3_000, 30_000, 70_000) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('stale' as const), depth: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.constant({ k: 'purchase' as const }), weight: 1 },
  { arbitrary: fc.constant({ k: 'refund' as const }), weight: 1 },
);

describe('access and tags under random interleavings (fast-check)', { timeout: 180_000 }, () => {
  let h: Harness;
  let clock: ManualClock;
  let writes: ReturnType<typeof countTagWrites>;
  let run = 0;

  beforeAll(async () => {
    clock = new ManualClock();
    h = await startHarness({ clock, workers: false, env: { CRMSYNC_CONFIG: rulesConfigFile(), CRMSYNC_SETTLE_MS: String(SETTLE_MS) } });
    writes = countTagWrites(h);
  });
  afterAll(() => h?.stop());

  const callCount = () => writes.applies.length + writes.removes.length;

  it('local changes are never lost to older snapshots, tags converge, echoes cost nothing, purchases keep access', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 4, maxLength: 14 }), async (steps) => {
        run++;
        const { body: user } = await h.api('POST', '/api/users', { email: `prop${run}@example.com` });
        await h.drain();
        const contactId = (await h.api('GET', `/api/users/${user.id}`)).body.contactId as string;
        const api = (method: string, path: string, body?: unknown) => h.api(method, `/api/users/${user.id}${path}`, body);
        const localTags = async () => (await api('GET', '')).body.tags as string[];

        // The model: who changed each tag last, whether a purchase is active, how many ops the app made.
        const lastWriter = new Map<string, 'local-apply' | 'local-remove' | 'crm'>();
        let purchase = false;
        let localOps = 0;
        const callsBefore = callCount();
        // When each sandbox version stopped being current (manual clock), so stale reads stay
        // within the read-after-write lag the settle window stands for.
        const supersededAt: number[] = [];
        const observe = () => {
          const versions = h.sandbox.state.history(contactId).length;
          for (let v = supersededAt.length + 1; v < versions; v++) supersededAt[v - 1] = clock.now();
        };
        observe();

        for (const s of steps) {
          switch (s.k) {
            case 'localApply':
            case 'localRemove': {
              const apply = s.k === 'localApply';
              expect((await api('POST', '/tags', apply ? { apply: [s.tag] } : { remove: [s.tag] })).status).toBe(200);
              lastWriter.set(s.tag, apply ? 'local-apply' : 'local-remove');
              localOps++;
              break;
            }
            case 'crmApply':
            case 'crmRemove':
              h.sandbox.state.editAsUser(contactId, s.k === 'crmApply' ? { applyTags: [s.tag] } : { removeTags: [s.tag] });
              lastWriter.set(s.tag, 'crm');
              break;
            case 'drain':
              await h.sandbox.webhooks.idle();
              await h.drain();
              break;
            case 'webhook':
              expect((await h.webhook({ wpf_action: 'update_tags', contact_id: contactId })).status).toBe(200);
              break;
            case 'hold':
              h.sandbox.webhooks.hold(true);
              break;
            case 'release':
              h.sandbox.webhooks.setDuplicate(s.copies);
              await h.sandbox.webhooks.release();
              h.sandbox.webhooks.setDuplicate(1);
              break;
            case 'advance':
              clock.advance(s.ms);
              break;
            case 'stale': {
              const current = h.sandbox.state.history(contactId).length;
              const version = current - s.depth;
              // Only versions that were current less than a settle window ago.
              if (version >= 1 && clock.now() - supersededAt[version - 1]! < SETTLE_MS) h.sandbox.state.serveStale(contactId, { reads: 1, version });
              break;
            }
            case 'purchase': {
              const res = await api('POST', '/grants', { resource: 'course-101', source: 'purchase' });
              expect([200, 201]).toContain(res.status);
              for (const t of res.body.appliedTags as string[]) {
                lastWriter.set(t, 'local-apply');
                localOps++;
              }
              purchase = true;
              break;
            }
            case 'refund': {
              const res = await api('DELETE', '/grants', { resource: 'course-101', source: 'purchase' });
              expect(res.status).toBe(purchase ? 200 : 404);
              purchase = false;
              break;
            }
          }
          observe();
          const local = await localTags();
          for (const [t, who] of lastWriter) {
            if (who === 'local-apply') expect(local, `after ${JSON.stringify(s)}: ${t} applied by the app`).toContain(t);
            if (who === 'local-remove') expect(local, `after ${JSON.stringify(s)}: ${t} removed by the app`).not.toContain(t);
          }
          if (purchase) expect((await api('GET', '/access/course-101')).body.granted, `after ${JSON.stringify(s)}: purchase active`).toBe(true);
          // Only the app's own changes are pushed: never more CRM writes than operations it made.
          expect(callCount() - callsBefore).toBeLessThanOrEqual(localOps);
        }

        // Settle: deliver everything, stop stale reads, let the settle window pass, re-read.
        await h.sandbox.webhooks.release();
        h.sandbox.webhooks.hold(false);
        h.sandbox.state.serveStale(contactId, { reads: 0, version: h.sandbox.state.history(contactId).length });
        for (let i = 0; i < 2; i++) {
          clock.advance(SETTLE_MS + 1000);
          await h.sandbox.webhooks.idle();
          await h.drain();
        }
        await h.webhook({ wpf_action: 'update_tags', contact_id: contactId });
        await h.drain();
        const crmTags = h.sandbox.state.get(contactId)!.tags;
        expect(await localTags()).toEqual(crmTags);
        expect(await listOperations(h.service.engine.db, user.id)).toEqual([]);
        const reasons = (await api('GET', '/access/course-101')).body.reasons as string[];
        expect(reasons.filter((r) => r.startsWith('tag:')).sort()).toEqual(['bought-101', 'bundle'].filter((t) => crmTags.includes(t)).map((t) => `tag:${t}`));
        expect(reasons.includes('purchase')).toBe(purchase);

        // Echoes and repeats of a settled contact: no outbound call, no change.
        const settled = callCount();
        h.sandbox.webhooks.setDuplicate(1);
        await h.webhook({ wpf_action: 'update', contact_id: contactId });
        await h.webhook({ wpf_action: 'update_tags', contact_id: contactId });
        clock.advance(1000);
        await h.drain();
        expect(callCount()).toBe(settled);
        expect(await localTags()).toEqual(crmTags);
      }),
      // Modest run counts keep this under a minute on a loaded machine; PROP_RUNS=200 for a deeper search.
      { numRuns: Number(process.env.PROP_RUNS ?? (testDialect === 'postgres' ? 6 : 15)), endOnFailure: true },
    );
  });
});
