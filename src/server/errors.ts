// API errors: one stable code per failure, one body shape for every error the server sends.

export const API_ERROR_STATUS = {
  bad_request: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  rate_limited: 429,
  nonce_unknown: 401,
  nonce_used: 401,
  nonce_expired: 401,
  malformed_quote: 400,
  unsupported_quote: 400,
  unsupported_tee: 400,
  malformed_collateral: 403,
  untrusted_root: 403,
  invalid_certificate_chain: 403,
  certificate_expired: 403,
  collateral_expired: 403,
  revoked: 403,
  crl_mismatch: 403,
  signature_invalid: 403,
  qe_report_data_mismatch: 403,
  qe_identity_mismatch: 403,
  tcb_info_mismatch: 403,
  tcb_not_supported: 403,
  collateral_unavailable: 503,
  binding_mismatch: 403,
  policy_denied: 403,
  unauthorized: 401,
  forbidden: 403,
  invalid_secret_name: 400,
  secret_exists: 409,
  secret_not_found: 404,
  policy_load_failed: 422,
  not_ready: 503,
  internal_error: 500,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export function isApiErrorCode(code: unknown): code is ApiErrorCode {
  return typeof code === 'string' && Object.hasOwn(API_ERROR_STATUS, code);
}

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly checks: string[] | undefined;
  constructor(code: ApiErrorCode, message: string, checks?: string[]) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = API_ERROR_STATUS[code];
    this.checks = checks;
  }
}

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; checks?: string[] };
}

export function errorBody(code: ApiErrorCode, message: string, checks?: string[]): ErrorBody {
  return { error: checks ? { code, message, checks } : { code, message } };
}

/**
 * Map anything thrown while handling a request to an API error. Fastify's own errors carry an
 * `FST_ERR_*` code; errors of our modules carry a stable `.code`. Anything else is internal and its
 * message is not shown (it may name files or values).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const err = e as { code?: unknown; statusCode?: unknown; validation?: unknown; message?: unknown };
  const fst = typeof err?.code === 'string' ? err.code : '';
  if (err?.validation) return new ApiError('bad_request', `invalid request: ${String(err.message ?? '')}`.slice(0, 300));
  switch (fst) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('body_too_large', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(fst === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'bad_request',
        fst === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content type must be application/json' : 'bad content length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('bad_request', 'request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('bad_request', 'request body is not valid JSON');
  }
  if (isApiErrorCode(fst) && fst !== 'internal_error') {
    return new ApiError(fst, typeof err.message === 'string' ? err.message : fst);
  }
  if (typeof err?.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    if (err.statusCode === 413) return new ApiError('body_too_large', 'request body is too large');
    if (err.statusCode === 415) return new ApiError('unsupported_media_type', 'content type must be application/json');
    if (err.statusCode === 404) return new ApiError('not_found', 'not found');
    return new ApiError('bad_request', 'bad request');
  }
  return new ApiError('internal_error', 'internal error');
}
