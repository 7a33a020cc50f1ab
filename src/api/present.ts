import type { User } from '../store/users.js';

/** The API's view of a user (no password hash, no internal CRM state). */
export function presentUser(u: User) {
  return {
    id: u.id,
    email: u.email,
    contactId: u.contactId,
    role: u.role,
    tags: u.tags,
    fields: u.fields,
    createdAt: new Date(u.createdAt).toISOString(),
    updatedAt: new Date(u.updatedAt).toISOString(),
  };
}
