// The CLI as a client of a running Warden (client attest, policy reload): JSON over HTTPS that trusts
// only the given CA file, every failure one CliError with a stable code.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { CliError, RemoteError, UsageError, type FlagSpecs } from './io.ts';

export const DEFAULT_SERVER = 'https://127.0.0.1:8443';
export const DEFAULT_CACERT = 'certs/ca.pem';

export const SERVER_FLAGS = {
  server: { type: 'string', arg: 'URL', help: `the Warden server (default $WARDEN_SERVER, else ${DEFAULT_SERVER})` },
  cacert: { type: 'string', arg: 'FILE', help: `CA certificate (PEM) the server's TLS certificate must chain to (default ${DEFAULT_CACERT})` },
} as const satisfies FlagSpecs;

export interface Server {
  url: URL;
  ca?: Buffer;
}

/** --server and --cacert, checked: a bad URL or an unreadable CA file is a usage error. */
export function serverOf(flags: { server?: string | undefined; cacert?: string | undefined }): Server {
  const env = process.env['WARDEN_SERVER'];
  const text = flags.server ?? (env ? env : DEFAULT_SERVER);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--server '${text}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--server wants an https:// (or http://) URL, got '${text}'`);
  if (url.protocol === 'http:') return { url };
  const file = flags.cacert ?? DEFAULT_CACERT;
  try {
    return { url, ca: fs.readFileSync(file) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read --cacert ${file}: ${code === 'ENOENT' ? 'no such file' : code ?? 'error'}${flags.cacert ? '' : ' (the development server writes it when it starts; or give --cacert FILE)'}`,
    );
  }
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

const TLS_CODES = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
const MAX_RESPONSE = 4 * 1024 * 1024;

/** One request; any answer with a JSON body resolves (the caller reads the status), a transport failure is a CliError. */
export function requestJson(server: Server, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const target = new URL(path, server.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string> = { accept: 'application/json', ...headers };
  if (payload !== undefined) h['content-type'] = 'application/json';
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(target, { method, headers: h, timeout: 30_000, ...(server.ca ? { ca: server.ca } : {}), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) req.destroy(new CliError('bad_response', `${method} ${target.pathname}: response larger than ${MAX_RESPONSE} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new CliError('bad_response', `${method} ${target.pathname}: HTTP ${res.statusCode} without a JSON body`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new CliError('server_unreachable', `${method} ${target.href}: no answer within 30 s`)));
    req.on('error', (e: Error & { code?: string }) => {
      if (e instanceof CliError) return reject(e);
      if (e.code && TLS_CODES.has(e.code)) {
        return reject(new CliError('tls_error', `${target.origin}: the server's TLS certificate is not trusted (${e.code}); give the CA it chains to with --cacert FILE`));
      }
      reject(new CliError('server_unreachable', `cannot reach ${target.origin}: ${e.code ?? e.message}${e.code === 'ECONNREFUSED' ? ' (is the server running? npm start starts a development server)' : ''}`));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The server's error body, relayed with its code. */
export function serverError(r: JsonResponse, what: string): RemoteError {
  const e = (r.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof e?.code === 'string' ? e.code : 'bad_response';
  const message = typeof e?.message === 'string' ? e.message : `HTTP ${r.status}`;
  return new RemoteError(code, `${what}: ${message} (HTTP ${r.status})`);
}
