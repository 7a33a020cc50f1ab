import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CrmWebhookError } from '../errors.js';
import type { WebhookRequest } from '../types.js';
import { parseWebhook, verifyWebhook } from './webhook.js';

interface Fixture {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** As ingress hands it over: a form body as a flat map of keys as sent, repeated keys as arrays. */
function formRequest(fixture: Fixture): WebhookRequest {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(fixture.body)) {
    const had = fields[key];
    fields[key] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  return { method: fixture.method, url: fixture.url, publicUrl: `https://sync.example.com${fixture.url}`, headers: fixture.headers, body: Buffer.from(fixture.body), fields };
}

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Fixture;
const jsonRequest = (value: unknown): WebhookRequest => ({ method: 'POST', url: '/', publicUrl: 'https://sync.example.com/', headers: {}, body: Buffer.from(JSON.stringify(value)), fields: value as Record<string, unknown> });

describe('sandbox webhooks', () => {
  it.each(['user-tag-change.json', 'api-echo.json'])('reads the contact id from the fixture %s', (name) => {
    const f = fixture(name);
    const request = formRequest(f);
    expect(() => verifyWebhook(request)).not.toThrow();
    expect(parseWebhook(request).contactIds).toEqual([new URL(f.url, 'http://x').searchParams.get('contact_id')]);
  });

  it('reads JSON bodies, single or batched, and deduplicates', () => {
    expect(parseWebhook(jsonRequest({ contact: { id: 3 } })).contactIds).toEqual(['3']);
    expect(parseWebhook(jsonRequest([{ contact: { id: '3' } }, { contact: { id: '4' } }, { contact: { id: 3 } }])).contactIds).toEqual(['3', '4']);
    expect(parseWebhook(formRequest({ method: 'POST', url: '/', headers: {}, body: 'contact[id]=5&contact[id]=5&contact[id]=6' })).contactIds).toEqual(['5', '6']);
  });

  it('finds nothing in an empty body (the id may be in the URL)', () => {
    expect(parseWebhook({ method: 'GET', url: '/?contact_id=1', publicUrl: 'https://sync.example.com/?contact_id=1', headers: {}, body: Buffer.alloc(0), fields: {} }).contactIds).toEqual([]);
  });

  it('refuses a contact id that is not a number', () => {
    for (const id of ['abc', '', '1; DROP', { x: 1 }]) {
      expect(() => parseWebhook(jsonRequest({ contact: { id } }))).toThrow(CrmWebhookError);
    }
  });
});
