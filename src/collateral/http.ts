// One bounded HTTP(S) GET: a deadline for the whole exchange, a body size cap, and an optional
// extra CA for a PCCS with its own certificate (added to the system roots, never replacing them).
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { SourceError } from './errors.ts';

export interface HttpOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Extra trusted CA certificates (PEM) for TLS, on top of the system roots. */
  ca?: string[];
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function httpGet(url: string, opts: HttpOptions): Promise<HttpResponse> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new SourceError('network', `bad URL ${url}`));
  }
  const isHttps = u.protocol === 'https:';
  if (!isHttps && u.protocol !== 'http:') return Promise.reject(new SourceError('network', `unsupported URL scheme ${u.protocol}`));
  const signal = AbortSignal.timeout(opts.timeoutMs);
  return new Promise<HttpResponse>((resolve, reject) => {
    const reqOpts: https.RequestOptions = { method: 'GET', signal, headers: { accept: '*/*' } };
    if (isHttps && opts.ca?.length) reqOpts.ca = [...rootCertificates, ...opts.ca];
    const req = (isHttps ? https : http).request(u, reqOpts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        res.destroy();
        reject(new SourceError('too_large', `response of ${declared} bytes exceeds ${opts.maxBytes}`));
        return;
      }
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBytes) {
          res.destroy();
          reject(new SourceError('too_large', `response exceeds ${opts.maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (!res.complete) reject(new SourceError('network', 'connection closed before the response was complete', true));
        else resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('aborted', () => reject(new SourceError('network', 'response truncated', true)));
      res.on('error', (e) => reject(classify(e, signal, opts.timeoutMs)));
    });
    req.on('error', (e) => reject(classify(e, signal, opts.timeoutMs)));
    req.end();
  });
}

function classify(e: Error, signal: AbortSignal, timeoutMs: number): SourceError {
  if (e instanceof SourceError) return e;
  if (signal.aborted || e.name === 'AbortError') return new SourceError('timeout', `no complete answer within ${timeoutMs} ms`);
  const code = (e as NodeJS.ErrnoException).code ?? '';
  // A refused or unresolvable host will not recover within a retry's backoff; a reset might.
  const retryable = !['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID'].includes(code);
  return new SourceError('network', `${code || e.name}: ${e.message.split('\n')[0]}`, retryable);
}
