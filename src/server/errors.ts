// API errors: one body shape for every error the server sends; codes and statuses come from the one
// error table (src/protocol/errors.ts).
import { CollateralUnavailableError } from '../collateral/errors.ts';
import { describeItem, isTcbInfoKind } from '../collateral/item.ts';
import { API_ERRORS, WardenError, apiCodeOf, type ApiErrorCode } from '../protocol/errors.ts';

export { isApiErrorCode, type ApiErrorCode } from '../protocol/errors.ts';

export class ApiError extends WardenError<ApiErrorCode> {
  readonly statusCode: number;
  readonly checks: string[] | undefined;
  constructor(code: ApiErrorCode, message: string, checks?: string[], cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.name = 'ApiError';
    this.statusCode = API_ERRORS[code].status;
    this.checks = checks;
  }
}

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; checks?: string[] };
}

export function errorBody(code: ApiErrorCode, message: string, checks?: string[]): ErrorBody {
  return { error: checks ? { code, message, checks } : { code, message } };
}

/** Fastify's own request errors (body parser, validation, URL): the client's, each with its status. */
function fromFastify(e: unknown): ApiError | null {
  if (typeof e !== 'object' || e === null) return null;
  const err = e as { code?: unknown; statusCode?: unknown; validation?: unknown; message?: unknown };
  if (err.validation) return new ApiError('bad_request', `invalid request: ${String(err.message ?? '')}`.slice(0, 300));
  if (typeof err.code !== 'string' || !err.code.startsWith('FST_')) return null;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('body_too_large', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'content type must be application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('bad_request', 'bad content length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('bad_request', 'request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('bad_request', 'request body is not valid JSON');
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 0;
  if (status === 413) return new ApiError('body_too_large', 'request body is too large');
  if (status === 415) return new ApiError('unsupported_media_type', 'content type must be application/json');
  if (status === 404) return new ApiError('not_found', 'not found');
  if (status >= 400 && status < 500) return new ApiError('bad_request', 'bad request');
  return null;
}

/**
 * Maps anything thrown while handling a request to an API error: our modules' errors by their code
 * (through the table), Fastify's request errors by their kind. Anything else is a bug: `internal_error`,
 * with the original kept as `cause` for the server log and its message never shown (it may name files
 * or values).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof CollateralUnavailableError) {
    // Callers are unauthenticated: they learn which item for which platform, never which source was
    // asked or how it failed (URLs, addresses, network errors). Those are logged (see app.ts).
    const forWhat = e.fmspc && !isTcbInfoKind(e.item.kind) ? ` for FMSPC ${e.fmspc}` : '';
    return new ApiError('collateral_unavailable', `collateral unavailable: no valid ${describeItem(e.item)}${forWhat} can be had now; retry later`, undefined, e);
  }
  if (e instanceof WardenError) {
    const code = apiCodeOf(e.code);
    return code === 'internal_error' ? new ApiError('internal_error', 'internal error', undefined, e) : new ApiError(code, e.message);
  }
  return fromFastify(e) ?? new ApiError('internal_error', 'internal error', undefined, e);
}
