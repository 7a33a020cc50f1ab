/**
 * The closed set of error codes crmsync answers with, and their HTTP status: the one table
 * that maps errors to HTTP. Every error body is `{"error":{"code","message"}}`.
 */
export const ERROR_STATUS = {
  invalid_access_key: 403,
  unauthorized: 401,
  invalid_signature: 401,
  missing_action: 400,
  unknown_action: 400,
  malformed_body: 400,
  invalid_request: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  contact_not_identified: 422,
  not_found: 404,
  conflict: 409,
  /** Library mode: a request or call before `crmsync.start()` (or after `stop()`). */
  not_started: 503,
  invalid_token: 400,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}
