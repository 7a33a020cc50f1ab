import { CrmError } from '../crm/errors.js';
import type { FieldValues } from '../domain/contact.js';
import { policyOf } from '../domain/field-ownership.js';
import type { Engine } from '../engine.js';
import { listOperations, markAcked } from '../store/operations.js';
import { findUser, updateUser, type User } from '../store/users.js';

/**
 * Sends a user's pending local changes to the CRM as deltas (set these fields, apply these
 * tags, remove those), through the rate-limited client, and records each acknowledgement.
 * A user without a contact gets one first (find-or-create by e-mail). Returns the contact ID.
 *
 * Field ownership: changes to `crm`-owned fields are never sent. With `holdSharedFields` (a pass
 * that reads the contact's fields next), changes to `both`-owned fields wait for that read, so
 * the three-way merge sees the CRM's value before ours overwrites it and can report a conflict;
 * the pass queues their push right after.
 */
export async function pushUser(engine: Engine, user: User, options: { holdSharedFields?: boolean } = {}): Promise<{ contactId: string; pushed: number }> {
  const { db, crm, clock, log } = engine;
  const sends = (op: { kind: string; name: string }) => {
    if (op.kind !== 'set_field' || !user.contactId) return true;
    const owner = policyOf(engine.fieldPolicies, op.name).owner;
    return owner === 'app' || (owner === 'both' && !options.holdSharedFields);
  };
  const ops = (await listOperations(db, user.id)).filter((op) => op.state === 'pending' && sends(op));
  let contactId = user.contactId;
  let crmState = user.crmState ?? { tags: [], fields: {} };
  const acked: number[] = [];
  const fieldOps = ops.filter((op) => op.kind === 'set_field');

  if (!contactId) {
    contactId = await crm.upsertContact({ email: user.email, fields: user.fields });
    const owner = await findUser(db, { contactId });
    if (owner && owner.id !== user.id) {
      throw new CrmError('permanent', `CRM contact #${contactId} for ${user.email} is already linked to user #${owner.id}`);
    }
    await updateUser(db, user.id, { contactId }, clock.now());
    acked.push(...fieldOps.map((op) => op.id));
    crmState = { ...crmState, fields: { ...crmState.fields, ...user.fields } };
    await markAcked(db, acked, clock.now());
    await log.write({ level: 'info', source: 'push', userId: user.id, contactId, message: `linked user #${user.id} to CRM contact #${contactId} (found or created by e-mail)` });
  } else if (fieldOps.length) {
    const fields: FieldValues = Object.fromEntries(fieldOps.map((op) => [op.name, op.value]));
    await crm.updateContact(contactId, fields);
    await markAcked(db, fieldOps.map((op) => op.id), clock.now());
    acked.push(...fieldOps.map((op) => op.id));
    crmState = { ...crmState, fields: { ...crmState.fields, ...fields } };
  }

  const apply = ops.filter((op) => op.kind === 'apply_tag');
  const remove = ops.filter((op) => op.kind === 'remove_tag');
  if (apply.length) {
    await crm.applyTags(contactId, apply.map((op) => op.name));
    await markAcked(db, apply.map((op) => op.id), clock.now());
    acked.push(...apply.map((op) => op.id));
  }
  if (remove.length) {
    await crm.removeTags(contactId, remove.map((op) => op.name));
    await markAcked(db, remove.map((op) => op.id), clock.now());
    acked.push(...remove.map((op) => op.id));
  }
  if (ops.length) {
    const tags = new Set(crmState.tags);
    for (const op of apply) tags.add(op.name);
    for (const op of remove) tags.delete(op.name);
    // What we last wrote: a webhook that shows exactly this is our own echo.
    await updateUser(db, user.id, { crmState: { tags: [...tags].sort(), fields: crmState.fields } }, clock.now());
    const parts = [
      apply.length ? `applied ${apply.map((op) => op.name).join(', ')}` : '',
      remove.length ? `removed ${remove.map((op) => op.name).join(', ')}` : '',
      fieldOps.length ? `set ${fieldOps.map((op) => op.name).join(', ')}` : '',
    ].filter(Boolean);
    await log.write({ level: 'info', source: 'push', userId: user.id, contactId, message: `pushed to CRM: ${parts.join('; ')}`, context: { operations: ops.map((op) => ({ kind: op.kind, name: op.name, value: op.value })) } });
  }
  return { contactId, pushed: ops.length };
}
