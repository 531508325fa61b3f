// What the HTTP server allows a client at the connection level, below any route: how long a request
// may take to arrive, how many connections one address and everyone together may hold, and the
// answer (in the API's error shape) to what Node's HTTP parser refuses before a route is known.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import {
  HEADERS_TIMEOUT_SECONDS,
  KEEP_ALIVE_TIMEOUT_SECONDS,
  MAX_CONNECTIONS,
  MAX_CONNECTIONS_PER_ADDRESS,
  REQUEST_TIMEOUT_SECONDS,
} from '../protocol/defaults.ts';
import type { ApiErrorCode } from '../protocol/errors.ts';
import { errorBody } from './errors.ts';

export interface HttpLimits {
  /** Headers and body must both have arrived within this; else 408 `request_timeout` and the connection closes. */
  requestTimeoutMs: number;
  /** Headers (and, over TLS, the handshake) within this. */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: REQUEST_TIMEOUT_SECONDS * 1000,
  headersTimeoutMs: HEADERS_TIMEOUT_SECONDS * 1000,
  keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
  maxConnections: MAX_CONNECTIONS,
  maxConnectionsPerAddress: MAX_CONNECTIONS_PER_ADDRESS,
};

export function httpLimits(over: Partial<HttpLimits> = {}): HttpLimits {
  const l = { ...DEFAULT_HTTP_LIMITS, ...over };
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`HTTP limit ${k} must be a positive integer, got ${v}`);
  }
  // Node refuses a headers timeout longer than the request timeout.
  l.headersTimeoutMs = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
  return l;
}

/**
 * Options for http(s).createServer. Node checks for overdue requests every connectionsCheckingInterval
 * (30 s by default, which would let a slow client keep its connection for up to 30 s past the limit).
 */
export function serverTimeoutOptions(l: HttpLimits): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number; handshakeTimeout: number } {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(l.headersTimeoutMs / 4))),
    handshakeTimeout: l.headersTimeoutMs,
  };
}

/**
 * Caps connections per client address and in total. A connection over a cap is closed before a byte
 * is read (before the TLS handshake): it costs the server nothing but the accept. The address is the
 * TCP peer's; behind a proxy that is the proxy, so raise the per-address cap there.
 */
export function capConnections(server: Server, l: HttpLimits, refused: (reason: 'total' | 'per_address') => void): void {
  const open = new Map<string, number>();
  server.maxConnections = l.maxConnections;
  server.on('drop', () => refused('total'));
  // tls.Server emits 'connection' with the raw TCP socket before the handshake, http.Server likewise.
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? '?';
    const n = (open.get(addr) ?? 0) + 1;
    if (n > l.maxConnectionsPerAddress) {
      refused('per_address');
      socket.destroy();
      return;
    }
    open.set(addr, n);
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1;
      if (left <= 0) open.delete(addr);
      else open.set(addr, left);
    });
  });
}

/** How Node's own refusals (before any route) are answered, by Node's error code. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; code: ApiErrorCode; message: string } {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', code: 'request_timeout', message: 'the request did not arrive in time; the connection is closed' };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', code: 'headers_too_large', message: 'request headers are too large' };
    default:
      return { status: 400, reason: 'Bad Request', code: 'bad_request', message: 'malformed HTTP request' };
  }
}

/**
 * The 'clientError' handler: Node's parser rejections (CRLF in a header, Content-Length with
 * Transfer-Encoding, bad chunks, oversized headers) and request timeouts, answered as
 * `{"error":{"code","message"}}` and then the connection closed.
 */
export function makeClientErrorHandler(counted: (code: ApiErrorCode) => void) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const a = clientErrorAnswer(err.code);
    counted(a.code);
    const res = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    // Only when nothing of a response has been written yet: never two status lines on one connection.
    if (socket.writable && !res?.headersSent) {
      const body = JSON.stringify(errorBody(a.code, a.message));
      socket.write(
        `HTTP/1.1 ${a.status} ${a.reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
