/** The sandbox's closed set of error codes and the one table that turns them into statuses. */
export type SandboxErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'internal';

export const statusOf: Record<SandboxErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
};

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function errorBody(code: SandboxErrorCode, message: string) {
  return { error: { code, message } };
}

/** The code for a 4xx status raised by fastify itself (bad JSON, wrong content type, …). */
export function codeForStatus(status: number): SandboxErrorCode {
  const entry = Object.entries(statusOf).find(([, s]) => s === status);
  return entry ? (entry[0] as SandboxErrorCode) : status >= 500 ? 'internal' : 'bad_request';
}
