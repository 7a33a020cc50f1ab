import { describe, expect, it } from 'vitest';
import { newSecret, secretKey, sign, signatureHeaders, verify } from './standard-webhooks.js';

/**
 * The Standard Webhooks test vector, as published by the specification's repository:
 * standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts, test
 * "sign function works" (commit 10d3e46d720c4e5861a792bec25792a04ad4e2b3), and the same values
 * in its other reference libraries. The "multi sig payload is valid" case of that file gives the
 * decoy signatures used below.
 */
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const headers = (signature = VECTOR.signature, timestamp = String(VECTOR.timestamp), id = VECTOR.id) => ({
  'webhook-id': id,
  'webhook-timestamp': timestamp,
  'webhook-signature': signature,
});
const at = { nowSeconds: VECTOR.timestamp };

describe('Standard Webhooks signer — the published test vector', () => {
  it('signs the vector exactly (string and raw bytes alike)', () => {
    expect(sign([VECTOR.secret], VECTOR)).toBe(VECTOR.signature);
    expect(sign([VECTOR.secret], { ...VECTOR, body: Buffer.from(VECTOR.body) })).toBe(VECTOR.signature);
    expect(signatureHeaders([VECTOR.secret], VECTOR)).toEqual(headers());
  });

  it('verifies the vector, with or without the whsec_ prefix, and with Headers', () => {
    expect(verify(VECTOR.secret, VECTOR.body, headers(), at)).toEqual({ valid: true, id: VECTOR.id, timestamp: VECTOR.timestamp });
    expect(verify('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', VECTOR.body, headers(), at).valid).toBe(true);
    expect(verify(VECTOR.secret, Buffer.from(VECTOR.body), new Headers(headers()), at).valid).toBe(true);
    expect(verify(VECTOR.secret, VECTOR.body, { 'Webhook-Id': VECTOR.id, 'Webhook-Timestamp': String(VECTOR.timestamp), 'Webhook-Signature': VECTOR.signature }, at).valid).toBe(true);
  });

  it('finds the valid signature among decoys and other versions (the spec\'s multi-signature case)', () => {
    const decoy = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';
    const list = [decoy, 'v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=', VECTOR.signature, decoy].join(' ');
    expect(verify(VECTOR.secret, VECTOR.body, headers(list), at).valid).toBe(true);
    expect(verify(VECTOR.secret, VECTOR.body, headers([decoy, decoy].join(' ')), at)).toEqual({ valid: false, reason: 'no_matching_signature' });
  });
});

describe('Standard Webhooks verifier — refusals', () => {
  it('refuses a tampered body, another id, another timestamp, another secret', () => {
    expect(verify(VECTOR.secret, '{"test": 2432232315}', headers(), at).valid).toBe(false);
    expect(verify(VECTOR.secret, VECTOR.body, headers(VECTOR.signature, String(VECTOR.timestamp), 'msg_other'), at).valid).toBe(false);
    expect(verify(VECTOR.secret, VECTOR.body, headers(VECTOR.signature, String(VECTOR.timestamp + 1)), { nowSeconds: VECTOR.timestamp + 1 }).valid).toBe(false);
    expect(verify(newSecret(), VECTOR.body, headers(), at)).toEqual({ valid: false, reason: 'no_matching_signature' });
  });

  it('refuses missing headers, partial or malformed signatures and bad timestamps', () => {
    const { 'webhook-id': _id, ...noId } = headers();
    expect(verify(VECTOR.secret, VECTOR.body, noId, at)).toEqual({ valid: false, reason: 'missing_headers' });
    for (const partial of [VECTOR.signature.slice(0, 8), 'v1,', 'v1', '', 'v1,dawfeoifkpqwoekfpqoekf', VECTOR.signature.replace('v1,', 'v1a,')]) {
      expect(verify(VECTOR.secret, VECTOR.body, headers(partial), at).valid, partial).toBe(false);
    }
    expect(verify(VECTOR.secret, VECTOR.body, headers(VECTOR.signature, 'hello'), at)).toEqual({ valid: false, reason: 'invalid_timestamp' });
  });

  it('refuses a timestamp more than five minutes off, either way', () => {
    expect(verify(VECTOR.secret, VECTOR.body, headers(), { nowSeconds: VECTOR.timestamp + 300 }).valid).toBe(true);
    expect(verify(VECTOR.secret, VECTOR.body, headers(), { nowSeconds: VECTOR.timestamp + 301 })).toEqual({ valid: false, reason: 'timestamp_out_of_tolerance' });
    expect(verify(VECTOR.secret, VECTOR.body, headers(), { nowSeconds: VECTOR.timestamp - 301 })).toEqual({ valid: false, reason: 'timestamp_out_of_tolerance' });
  });
});

describe('Standard Webhooks — secrets and rotation', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = newSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretKey(a)).toHaveLength(32);
    expect(newSecret()).not.toBe(a);
    expect(() => secretKey('whsec_')).toThrow();
    expect(() => secretKey('whsec_not base64!')).toThrow();
  });

  it('signs with every active secret, space-separated; each one verifies on its own', () => {
    const fresh = newSecret();
    const header = sign([fresh, VECTOR.secret], VECTOR);
    const [first, second] = header.split(' ');
    expect(second).toBe(VECTOR.signature);
    expect(first).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verify(fresh, VECTOR.body, headers(header), at).valid).toBe(true);
    expect(verify(VECTOR.secret, VECTOR.body, headers(header), at).valid).toBe(true);
    expect(verify(newSecret(), VECTOR.body, headers(header), at).valid).toBe(false);
  });

  it('refuses ids that would make the signed content ambiguous', () => {
    expect(() => sign([VECTOR.secret], { ...VECTOR, id: 'msg.1' })).toThrow();
    expect(() => sign([], VECTOR)).toThrow();
  });
});
