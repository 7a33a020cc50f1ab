import { z } from 'zod';

/**
 * Tag rules and access grants, as pure rules (no I/O).
 *
 * A rule says: tag `tag` grants `resource`, unless the user also has one of `revokeTags`; when
 * the application grants `resource` itself (a purchase, an admin), `applyTags` are applied to
 * the user and pushed to the CRM. A grant remembers why it exists (its source and, for `tag`,
 * which tag): losing a tag revokes only the grants that tag created.
 */
export const resourceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/, 'resource names are 1–128 letters, digits and _ . : / - (starting with a letter or digit)');
const ruleTag = z.string().trim().min(1).max(255).refine((t) => !/[\u0000-\u001f]/.test(t), 'tags cannot contain control characters');

export const tagRule = z
  .object({
    /** The tag that grants the resource. */
    tag: ruleTag,
    /** What it grants: a course, a membership level, a content area. */
    resource: resourceName,
    /** Tags that deny it: while the user has one, this rule grants nothing (and revokes what it granted). */
    revokeTags: z.array(ruleTag).max(100).default([]),
    /** Tags applied (and pushed to the CRM) when the application grants the resource itself. */
    applyTags: z.array(ruleTag).max(100).default([]),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.revokeTags.includes(rule.tag)) ctx.addIssue({ code: 'custom', path: ['revokeTags'], message: `"${rule.tag}" cannot both grant and revoke ${rule.resource}` });
    for (const t of rule.applyTags) {
      if (rule.revokeTags.includes(t)) ctx.addIssue({ code: 'custom', path: ['applyTags'], message: `"${t}" is also a revoke tag of ${rule.resource}: granting would revoke at once` });
    }
  });

export type TagRule = z.output<typeof tagRule>;

export const tagRules = z.array(tagRule).max(1000).default([]);

/** Where a grant comes from. `tag` grants are made and revoked by rules only. */
export const TAG_SOURCE = 'tag';
export const grantSource = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'sources are lowercase words such as purchase, admin, subscription')
  .refine((s) => s !== TAG_SOURCE, 'source "tag" is reserved for tag rules: apply or remove the tag instead');

export interface Grant {
  id: number;
  userId: number;
  resource: string;
  source: string;
  /** For `tag` grants, the tag; otherwise free text from the app (e.g. an order number) or ''. */
  detail: string;
  note: string | null;
  createdAt: number;
  revokedAt: number | null;
}

/** The provenance of a grant, as events and the API show it: `tag:NAME`, `purchase`, … */
export function reasonOf(grant: Pick<Grant, 'source' | 'detail'>): string {
  return grant.detail ? `${grant.source}:${grant.detail}` : grant.source;
}

export interface TagChange {
  /** The user's tags after the committed change. */
  tags: readonly string[];
  added: readonly string[];
  removed: readonly string[];
  /** Active `tag` grants of the user. */
  tagGrants: readonly Pick<Grant, 'id' | 'resource' | 'detail'>[];
  /** A privileged user (an administrator) is never un-enrolled by rules. */
  privileged: boolean;
}

export interface RuleOutcome {
  grant: { resource: string; tag: string }[];
  revoke: { grantId: number; resource: string; tag: string; why: string }[];
  /** Revocations rules wanted but did not make, because the user is privileged. */
  spared: { resource: string; tag: string; why: string }[];
}

/**
 * What a committed tag change does to tag grants. Only rules whose tag or revoke tags changed
 * are evaluated, so editing the rules never mass-revokes grants on the next unrelated pass;
 * for those, a (resource, tag) pair is granted while some rule for it has its tag and none of
 * its revoke tags.
 */
export function evaluateTagRules(rules: readonly TagRule[], change: TagChange): RuleOutcome {
  const changed = new Set([...change.added, ...change.removed]);
  const has = new Set(change.tags);
  const wanted = new Map<string, { resource: string; tag: string; granted: boolean; why: string }>();
  for (const rule of rules) {
    if (!changed.has(rule.tag) && !rule.revokeTags.some((t) => changed.has(t))) continue;
    const key = pairKey(rule.resource, rule.tag);
    const denial = rule.revokeTags.find((t) => has.has(t));
    const granted = has.has(rule.tag) && denial === undefined;
    const why = !has.has(rule.tag) ? `tag "${rule.tag}" removed` : `revoke tag "${denial}" present`;
    const seen = wanted.get(key);
    if (!seen || (granted && !seen.granted)) wanted.set(key, { resource: rule.resource, tag: rule.tag, granted, why });
  }
  const active = new Map(change.tagGrants.map((g) => [pairKey(g.resource, g.detail), g]));
  const outcome: RuleOutcome = { grant: [], revoke: [], spared: [] };
  for (const [key, w] of wanted) {
    const grant = active.get(key);
    if (w.granted && !grant) outcome.grant.push({ resource: w.resource, tag: w.tag });
    else if (!w.granted && grant) {
      if (change.privileged) outcome.spared.push({ resource: w.resource, tag: w.tag, why: w.why });
      else outcome.revoke.push({ grantId: grant.id, resource: w.resource, tag: w.tag, why: w.why });
    }
  }
  return outcome;
}

/** The tags the rules apply when the application grants `resource` itself. */
export function tagsForLocalGrant(rules: readonly TagRule[], resource: string): string[] {
  return [...new Set(rules.filter((r) => r.resource === resource).flatMap((r) => r.applyTags))].sort();
}

/** Resources and why they are granted, from active grants: a resource is granted while any grant covers it. */
export function accessOf(grants: readonly Grant[]): { resource: string; grants: Grant[] }[] {
  const by = new Map<string, Grant[]>();
  for (const g of grants) if (g.revokedAt === null) by.set(g.resource, [...(by.get(g.resource) ?? []), g]);
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([resource, list]) => ({ resource, grants: list }));
}

/** Which resources went from granted to not granted or back, comparing active grants before and after. */
export function accessTransitions(before: readonly Grant[], after: readonly Grant[]): { granted: Grant[]; revoked: Grant[] } {
  const covered = (list: readonly Grant[]) => new Set(list.filter((g) => g.revokedAt === null).map((g) => g.resource));
  const was = covered(before);
  const now = covered(after);
  const granted = [...now].filter((r) => !was.has(r)).map((r) => after.find((g) => g.resource === r && g.revokedAt === null)!);
  const revoked = [...was].filter((r) => !now.has(r)).map((r) => [...before].reverse().find((g) => g.resource === r && g.revokedAt === null)!);
  return { granted, revoked };
}

function pairKey(resource: string, tag: string): string {
  return `${resource}\u0000${tag}`;
}
