import { describeCrmConformance } from '../../../test/crm/conformance.js';
import { systemClock } from '../../clock.js';
import { startSandbox } from '../../sandbox/index.js';
import { TokenBucket } from '../rate-limiter.js';
import { sandbox } from './index.js';

describeCrmConformance('sandbox', async () => {
  const sb = await startSandbox({ port: 0, rateLimit: 0, seed: false });
  const crm = sandbox({
    baseUrl: sb.url,
    apiKey: sb.apiKey,
    webhookSecret: null,
    fieldMap: {},
    limiter: new TokenBucket({ requests: 1000, perMs: 1000 }),
    clock: systemClock,
    timeoutMs: 5000,
  });
  return {
    crm,
    seedContact: async (c) => sb.state.createContact(c, 'seed').id,
    readContact: async (id) => sb.state.get(id) ?? null,
    webhookFor: (contactId) => {
      const body = `type=update&contact%5Bid%5D=${contactId}&contact%5Btags%5D=`;
      return {
        method: 'POST',
        url: `/?wpf_action=update&access_key=KEY&contact_id=${contactId}`,
        publicUrl: `https://sync.example.com/?wpf_action=update&access_key=KEY&contact_id=${contactId}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(body),
        fields: Object.fromEntries(new URLSearchParams(body)),
      };
    },
    forceRateLimit: () => {
      sb.refuseNext(1);
      return 1000;
    },
    rateLimitedCount: () => sb.stats().rateLimited,
    close: () => sb.close(),
  };
});
