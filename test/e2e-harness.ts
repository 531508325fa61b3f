// Test harness for the server: real stores on a SQLite file, the sim PKI as trust root and collateral,
// HTTPS on 127.0.0.1 with development certificates, and an enclave that follows the v1 protocol.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildApp, type WardenApp } from '../src/server/app.ts';
import type { AppOptions } from '../src/server/deps.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { DirectoryPolicySource } from '../src/server/policy-source.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { makeQuote, type QuoteOptions } from '../src/sim/quote.ts';
import type { ReportFields } from '../src/sim/report.ts';
import type { SimPki } from '../src/sim/pki.ts';
import type { SimPlatform } from '../src/sim/platform.ts';
import type { AdminTokens } from '../src/store/admin-tokens.ts';
import type { AuditLog } from '../src/store/audit.ts';
import type { Engine } from '../src/store/engine.ts';
import type { SecretStore } from '../src/store/secrets.ts';
import { openStore } from '../src/store/store.ts';
import { enclaveKeyPair, openSealedSecret, reportDataFor } from './helpers/enclave-side.ts';

export interface Certs {
  ca: string;
  key: string;
  cert: string;
}

export async function makeCerts(dir: string): Promise<Certs> {
  const p = await createDevCerts(dir, ['localhost', '127.0.0.1']);
  return { ca: fs.readFileSync(p.caCert, 'utf8'), key: fs.readFileSync(p.serverKey, 'utf8'), cert: fs.readFileSync(p.serverCert, 'utf8') };
}

export interface Warden {
  url: string;
  app: WardenApp;
  db: Engine;
  secrets: SecretStore;
  tokens: AdminTokens;
  audit: AuditLog;
  /** Everything the server logged. */
  logs: string[];
  close(): Promise<void>;
}

export interface StartOptions {
  dataDir: string;
  policiesDir: string;
  masterKey: Buffer;
  pki: SimPki;
  certs: Certs;
  appOptions?: AppOptions;
  /** postgres://… to run on PostgreSQL; default SQLite in dataDir. */
  database?: string;
}

export async function startWarden(o: StartOptions): Promise<Warden> {
  const store = await openStore({ url: o.database, file: path.join(o.dataDir, 'warden.db') });
  const db = store.engine;
  const secrets = store.secrets(o.masterKey);
  const tokens = store.tokens;
  const audit = store.audit;
  const collateral = new SimCollateralSource(o.pki);
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const app = await buildApp(
    {
      nonces: store.nonces(o.masterKey),
      secrets,
      audit,
      tokens,
      keys: store.keys(o.masterKey),
      policies: new DirectoryPolicySource(o.policiesDir),
      verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: o.pki.rootPem }),
      collateral,
      root: 'simulated',
      dbReady: () => db.ping(),
    },
    {
      validateResponses: true,
      rateLimit: false,
      adminRateLimit: false,
      logger: { level: 'debug', stream },
      https: { key: o.certs.key, cert: o.certs.cert },
      ...o.appOptions,
    },
  );
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `https://127.0.0.1:${addr.port}`,
    app,
    db,
    secrets,
    tokens,
    audit,
    logs,
    close: async () => {
      await app.app.close();
      await store.close();
    },
  };
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One HTTPS request that trusts only the development CA. */
export function request(
  url: string,
  ca: string,
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(p, url), { method, ca, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/**
 * An enclave following the protocol: fresh key, report data binding nonce and key, quote from the sim QE.
 * Its side of the wire format is test/helpers/enclave-side.ts (golden-vector constants, an HPKE open
 * written apart from the server's), never the server's own functions.
 */
export class Enclave {
  readonly keys = enclaveKeyPair();
  readonly pkE = this.keys.publicKey;

  constructor(
    readonly platform: SimPlatform,
    readonly report: ReportFields,
  ) {}

  quoteFor(nonce: Buffer, o: { reportData?: Buffer; quote?: Partial<QuoteOptions> } = {}): Buffer {
    const reportData = o.reportData ?? reportDataFor(nonce, this.pkE);
    return makeQuote({ platform: this.platform, ...o.quote, report: { ...this.report, reportData } });
  }

  open(serverHpkePub: Buffer, nonce: Buffer, s: { name: string; enc: string; ciphertext: string }): Buffer {
    return openSealedSecret({
      recipientPrivateKey: this.keys.privateKey,
      senderPublicKey: serverHpkePub,
      enc: Buffer.from(s.enc, 'base64'),
      name: s.name,
      nonce: nonce,
      ciphertext: Buffer.from(s.ciphertext, 'base64'),
    });
  }
}

/** Verify an ES256 JWS the way an independent relying party would: JWKS by kid, raw r||s signature. */
export function verifyToken(token: string, jwks: { keys: Array<Record<string, unknown>> }): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c, s] = token.split('.');
  if (!h || !c || !s) throw new Error('not a JWS');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (header['alg'] !== 'ES256') throw new Error('alg is not ES256');
  const jwk = jwks.keys.find((k) => k['kid'] === header['kid']);
  if (!jwk) throw new Error('kid not in JWKS');
  const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  const sig = Buffer.from(s, 'base64url');
  if (sig.length !== 64) throw new Error('signature is not raw r||s');
  if (!crypto.verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('bad signature');
  return { header, claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown> };
}
