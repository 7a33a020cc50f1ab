import { describe, expect, it } from 'vitest';
import { accessOf, accessTransitions, evaluateTagRules, grantSource, tagRules, tagsForLocalGrant, type Grant, type TagChange } from './access.js';

const rules = tagRules.parse([
  { tag: 'bought-101', resource: 'course-101' },
  { tag: 'bundle', resource: 'course-101' },
  { tag: 'member', resource: 'members-area', revokeTags: ['payment-failed'], applyTags: ['member'] },
  { tag: 'enrolled-101', resource: 'course-101', applyTags: [] },
]);

const change = (c: Partial<TagChange>): TagChange => ({ tags: [], added: [], removed: [], tagGrants: [], privileged: false, ...c });

describe('tag rules', () => {
  it('a new tag grants its resource once; an existing grant is not duplicated', () => {
    expect(evaluateTagRules(rules, change({ tags: ['bought-101'], added: ['bought-101'] })).grant).toEqual([{ resource: 'course-101', tag: 'bought-101' }]);
    const again = evaluateTagRules(rules, change({ tags: ['bought-101'], added: ['bought-101'], tagGrants: [{ id: 1, resource: 'course-101', detail: 'bought-101' }] }));
    expect(again).toEqual({ grant: [], revoke: [], spared: [] });
  });

  it('losing a tag revokes only the grant that tag made', () => {
    const out = evaluateTagRules(rules, change({
      tags: ['bundle'],
      removed: ['bought-101'],
      tagGrants: [{ id: 1, resource: 'course-101', detail: 'bought-101' }, { id: 2, resource: 'course-101', detail: 'bundle' }],
    }));
    expect(out.revoke).toEqual([{ grantId: 1, resource: 'course-101', tag: 'bought-101', why: 'tag "bought-101" removed' }]);
    expect(out.grant).toEqual([]);
  });

  it('a revoke tag denies the grant and lifting it grants again', () => {
    const denied = evaluateTagRules(rules, change({ tags: ['member', 'payment-failed'], added: ['payment-failed'], tagGrants: [{ id: 7, resource: 'members-area', detail: 'member' }] }));
    expect(denied.revoke).toEqual([{ grantId: 7, resource: 'members-area', tag: 'member', why: 'revoke tag "payment-failed" present' }]);
    expect(evaluateTagRules(rules, change({ tags: ['member', 'payment-failed'], added: ['member'] })).grant).toEqual([]);
    expect(evaluateTagRules(rules, change({ tags: ['member'], removed: ['payment-failed'] })).grant).toEqual([{ resource: 'members-area', tag: 'member' }]);
  });

  it('a privileged user is never un-enrolled by rules: the revocation is reported as spared', () => {
    const out = evaluateTagRules(rules, change({ tags: [], removed: ['bought-101'], tagGrants: [{ id: 1, resource: 'course-101', detail: 'bought-101' }], privileged: true }));
    expect(out.revoke).toEqual([]);
    expect(out.spared).toEqual([{ resource: 'course-101', tag: 'bought-101', why: 'tag "bought-101" removed' }]);
  });

  it('rules whose tags did not change are not evaluated (a removed rule never mass-revokes)', () => {
    const out = evaluateTagRules(rules, change({ tags: ['other'], added: ['other'], tagGrants: [{ id: 1, resource: 'course-101', detail: 'no-longer-a-rule' }] }));
    expect(out).toEqual({ grant: [], revoke: [], spared: [] });
  });

  it('applyTags of every rule of a resource, deduplicated', () => {
    expect(tagsForLocalGrant(rules, 'members-area')).toEqual(['member']);
    expect(tagsForLocalGrant(rules, 'course-101')).toEqual([]);
  });

  it('rule validation reports every problem', () => {
    const bad = tagRules.safeParse([{ tag: 'x', resource: 'bad name!', revokeTags: ['x'] }, { tag: '', resource: 'ok', applyTags: ['y'], revokeTags: ['y'], extra: 1 }]);
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['0.resource', '1.tag', '1']));
    expect(grantSource.safeParse('tag').success).toBe(false);
    expect(grantSource.safeParse('purchase').success).toBe(true);
  });
});

describe('access', () => {
  const g = (id: number, resource: string, source: string, revokedAt: number | null = null): Grant => ({ id, userId: 1, resource, source, detail: '', note: null, createdAt: id, revokedAt });

  it('a resource stays granted while any active grant covers it', () => {
    const before = [g(1, 'course-101', 'purchase'), g(2, 'course-101', 'tag')];
    expect(accessOf(before).map((a) => [a.resource, a.grants.length])).toEqual([['course-101', 2]]);
    expect(accessTransitions(before, [before[0]!])).toEqual({ granted: [], revoked: [] });
    expect(accessTransitions(before, []).revoked.map((x) => x.resource)).toEqual(['course-101']);
    expect(accessTransitions([], [g(3, 'area', 'admin')]).granted.map((x) => x.id)).toEqual([3]);
    expect(accessOf([g(4, 'gone', 'admin', 10)])).toEqual([]);
  });
});
