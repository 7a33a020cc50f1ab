import type { SandboxState } from './state.js';

/** A few demo contacts, so the page and the API have something to show. Sends no webhooks. */
export const demoContacts = [
  { email: 'ada@example.com', fields: { first_name: 'Ada', last_name: 'Lovelace', phone: '+44 20 7946 0001' }, tags: ['customer', 'newsletter'] },
  { email: 'grace@example.com', fields: { first_name: 'Grace', last_name: 'Hopper', phone: null }, tags: ['member'] },
  { email: 'alan@example.com', fields: { first_name: 'Alan', last_name: 'Turing', phone: null }, tags: [] },
  { email: 'katherine@example.com', fields: { first_name: 'Katherine', last_name: 'Johnson', phone: '+1 757 555 0100' }, tags: ['customer', 'vip'] },
];

export function seedDemoContacts(state: SandboxState): void {
  for (const contact of demoContacts) state.createContact(contact, 'seed');
}
