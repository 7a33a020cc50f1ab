import { z } from 'zod';
import { accessCheck, accessList, grantKey, grantView, newGrant } from './access-schemas.js';
import { credentialKind, credentials, deliveryQuery, endpoint, errorBody, logQuery, newEndpoint, newUser, queueQuery, rotation, secretRotation, tagChange, user, userPatch, userQuery } from './schemas.js';

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });

function queryParams(s: z.ZodObject) {
  const json = schema(s) as { properties?: Record<string, unknown> };
  return Object.entries(json.properties ?? {}).map(([name, prop]) => ({ name, in: 'query', required: false, schema: prop }));
}

const json = (s: z.ZodType) => ({ content: { 'application/json': { schema: schema(s) } } });
const errors = { default: { description: 'Error', ...json(errorBody) } };
const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } }];

export function openApiDocument(serverUrl: string) {
  return {
    openapi: '3.1.0',
    info: { title: 'crmsync API', version: '0.1.0', description: 'Users, tags and the sync log of crmsync. Bearer token: CRMSYNC_API_TOKEN.' },
    servers: [{ url: serverUrl }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/api/users': {
        get: { summary: 'Find users', parameters: queryParams(userQuery), responses: { 200: { description: 'Users', ...json(z.object({ users: z.array(user) })) }, ...errors } },
        post: { summary: 'Register a user (pushed to the CRM: find-or-create the contact by e-mail)', requestBody: json(newUser), responses: { 201: { description: 'Created', ...json(user) }, ...errors } },
      },
      '/api/users/{id}': {
        get: { summary: 'One user, with pending outbound operations', parameters: idParam, responses: { 200: { description: 'User', ...json(user) }, ...errors } },
        patch: { summary: 'Change fields or role (fields are pushed to the CRM)', parameters: idParam, requestBody: json(userPatch), responses: { 200: { description: 'User', ...json(user) }, ...errors } },
      },
      '/api/users/{id}/tags': {
        post: { summary: 'Apply and remove tags (pushed to the CRM as deltas)', parameters: idParam, requestBody: json(tagChange), responses: { 200: { description: 'User', ...json(user) }, ...errors } },
      },
      '/api/users/{id}/access': {
        get: { summary: 'Resources the user may access, each with the grants that cover it (why)', parameters: idParam, responses: { 200: { description: 'Access', ...json(accessList) }, ...errors } },
      },
      '/api/users/{id}/access/{resource}': {
        get: { summary: 'Whether the user may access one resource (one indexed query)', parameters: [...idParam, { name: 'resource', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: '{granted, reasons}', ...json(accessCheck) }, ...errors } },
      },
      '/api/users/{id}/grants': {
        post: { summary: 'Grant a resource (source purchase, admin, …; "tag" is reserved for tag rules); applies the rules\' applyTags', parameters: idParam, requestBody: json(newGrant), responses: { 201: { description: 'Granted', ...json(grantView) }, 200: { description: 'Already granted from that source' }, ...errors } },
        delete: { summary: 'Revoke the grants of a resource from one source (JSON body or query string); other sources keep it granted', parameters: idParam, requestBody: json(grantKey), responses: { 200: { description: '{revoked, granted}' }, ...errors } },
      },
      '/api/auth/verify': {
        post: { summary: "Check a user's e-mail and password", requestBody: json(credentials), responses: { 200: { description: '{valid, userId?}' }, ...errors } },
      },
      '/api/log': { get: { summary: 'The activity log, newest first', parameters: queryParams(logQuery), responses: { 200: { description: 'Entries' }, ...errors } } },
      '/api/queue': { get: { summary: 'Queue counts and jobs', parameters: queryParams(queueQuery), responses: { 200: { description: 'Queue' }, ...errors } } },
      '/api/queue/dead': { get: { summary: 'Dead letters', responses: { 200: { description: 'Dead jobs' }, ...errors } } },
      '/api/queue/dead/replay': { post: { summary: 'Replay every dead letter', responses: { 200: { description: 'Count replayed' }, ...errors } } },
      '/api/queue/dead/{id}/replay': { post: { summary: 'Replay one dead letter', parameters: idParam, responses: { 200: { description: 'The job, pending again' }, ...errors } } },
      '/api/mail': { get: { summary: 'The mail outbox (all mail; without SMTP the only delivery)', responses: { 200: { description: 'Messages' }, ...errors } } },
      '/api/endpoints': {
        get: { summary: 'Event endpoints of the host application (secrets are never listed)', responses: { 200: { description: 'Endpoints', ...json(z.object({ endpoints: z.array(endpoint) })) }, ...errors } },
        post: { summary: 'Register an event endpoint; the answer shows its whsec_ signing secret, once', requestBody: json(newEndpoint), responses: { 201: { description: 'Created, with `secret`', ...json(endpoint) }, ...errors } },
      },
      '/api/endpoints/{id}': { delete: { summary: 'Delete an event endpoint and its deliveries', parameters: idParam, responses: { 204: { description: 'Deleted' }, ...errors } } },
      '/api/endpoints/{id}/rotate': {
        post: { summary: 'New signing secret (shown once); older ones keep signing for the grace period', parameters: idParam, requestBody: json(secretRotation), responses: { 200: { description: 'Endpoint, with the new `secret`', ...json(endpoint) }, ...errors } },
      },
      '/api/endpoints/{id}/deliveries': { get: { summary: 'Deliveries to an endpoint, newest first', parameters: [...idParam, ...queryParams(deliveryQuery)], responses: { 200: { description: 'Deliveries' }, ...errors } } },
      '/api/credentials': { get: { summary: 'Where the access key and API token come from and when they were rotated (never their values)', responses: { 200: { description: '`{accessKey, apiToken}`' }, ...errors } } },
      '/api/credentials/{kind}/rotate': {
        post: {
          summary: 'A new access key or API token (shown once); the previous one keeps working for the grace period (CRMSYNC_ROTATION_GRACE_HOURS unless `graceHours` is given)',
          parameters: [{ name: 'kind', in: 'path', required: true, schema: schema(credentialKind) }],
          requestBody: json(rotation),
          responses: { 200: { description: '`{kind, value, previousValidUntil}`' }, ...errors },
        },
      },
    },
  };
}
