// What the request log may say about a request: credentials in the URL (a refused `?access_token=`)
// or in headers never reach the log, whatever the log level.
import type { FastifyRequest } from 'fastify';

const REDACTED = '[redacted]';

/** Query parameter names that carry credentials. */
const CREDENTIAL_PARAM = /token|key|secret|passw|auth|credential|session|signature|^sig$|^code$/i;
/** Warden's admin tokens, wherever they appear (a path segment, a misnamed parameter). */
const ADMIN_TOKEN = /wdn_[0-9a-f]{16}_[A-Za-z0-9_-]+/g;

/** The URL with credential-bearing query values and anything shaped like an admin token replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  let out = url;
  if (q >= 0) {
    const query = url
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const rawName = eq >= 0 ? pair.slice(0, eq) : pair;
        let name = rawName;
        try {
          name = decodeURIComponent(rawName.replace(/\+/g, ' '));
        } catch {
          // malformed escapes: judge the raw name
        }
        return eq >= 0 && CREDENTIAL_PARAM.test(name) ? `${rawName}=${REDACTED}` : pair;
      })
      .join('&');
    out = `${url.slice(0, q)}?${query}`;
  }
  return out.replace(ADMIN_TOKEN, `wdn_${REDACTED}`);
}

/** Header names whose values are never logged. */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token'];

/** The request as the log shows it: no headers at all, the URL redacted. */
function requestSerializer(req: FastifyRequest): Record<string, unknown> {
  return { method: req.method, url: redactUrl(String(req.url ?? '')), remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export type LoggerOption = boolean | { level?: string; stream?: NodeJS.WritableStream } | undefined;

/**
 * Fastify logger options with the request serializer above, and pino's redaction of secret headers
 * for anything that logs a request or response object with its headers.
 */
export function loggerOptions(l: LoggerOption): false | Record<string, unknown> {
  if (!l) return false;
  const base = l === true ? {} : l;
  const paths = SECRET_HEADERS.flatMap((h) => [`req.headers["${h}"]`, `res.headers["${h}"]`, `headers["${h}"]`]);
  return { ...base, serializers: { req: requestSerializer }, redact: { paths, censor: REDACTED } };
}
