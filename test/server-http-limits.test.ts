// The HTTP layer under attack (issue #14 findings 4, 6-9): connection caps per address and in total,
// Node's parser rejections in the API's error shape, Expect: 100-continue over the limit, credentials
// kept out of the request log, query integers and charsets, and the TLS versions and suites offered.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makePolicySet } from '../src/policy/load.ts';
import { buildApp } from '../src/server/app.ts';
import type { AppOptions } from '../src/server/deps.ts';
import { redactUrl } from '../src/server/log-redaction.ts';
import { makeQuoteVerifier } from '../src/server/quote-verifier.ts';
import { SimCollateralSource } from '../src/server/sim-collateral.ts';
import { SimPki } from '../src/sim/pki.ts';
import { AdminTokens } from '../src/store/admin-tokens.ts';
import { AuditLog } from '../src/store/audit.ts';
import { sqliteEngine } from './helpers/engines.ts';
import { NonceStore } from '../src/store/nonces.ts';
import { SecretStore } from '../src/store/secrets.ts';
import { ServerKeys } from '../src/store/server-keys.ts';
import { makeCerts, type Certs } from './e2e-harness.ts';
import { rawRequest } from './helpers/raw-http.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-http-'));
const apps: FastifyInstance[] = [];
let pki: SimPki;
let certs: Certs;

async function start(opts: AppOptions = {}) {
  const db = await sqliteEngine();
  const mk = crypto.randomBytes(32);
  const tokens = new AdminTokens(db);
  const collateral = new SimCollateralSource(pki);
  const audit = new AuditLog(db);
  const { app } = await buildApp(
    {
      nonces: new NonceStore(db, mk),
      secrets: new SecretStore(db, mk, { audit }),
      audit,
      tokens,
      keys: new ServerKeys(db, mk),
      policies: { current: () => makePolicySet([]), reload: () => makePolicySet([]) },
      verifyQuote: makeQuoteVerifier({ collateral, trustedRoot: pki.rootPem }),
      collateral,
      root: 'simulated',
    },
    { validateResponses: true, rateLimit: false, adminRateLimit: false, ...opts },
  );
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as net.AddressInfo).port, admin: (await tokens.create('admin')).token };
}

/** Connects; resolves once the server has either kept the socket for a moment or closed it. */
function connect(port: number): Promise<{ socket: net.Socket; closedAtOnce: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let settled = false;
    const settle = (closedAtOnce: boolean) => {
      if (settled) return;
      settled = true;
      resolve({ socket, closedAtOnce });
    };
    socket.on('error', () => settle(true));
    socket.on('close', () => settle(true));
    // A request answered proves the server kept the connection; silence and close proves it did not.
    socket.once('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', () => settle(false));
  });
}

before(async () => {
  [pki, certs] = await Promise.all([SimPki.create(), makeCerts(path.join(tmp, 'certs'))]);
});
after(async () => {
  for (const a of apps) await a.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('connection caps', () => {
  test('per address: connections over the cap are closed at once; the others keep working', async () => {
    const { port } = await start({ limits: { maxConnectionsPerAddress: 3 } });
    const held = [await connect(port), await connect(port), await connect(port)];
    assert.deepEqual(held.map((h) => h.closedAtOnce), [false, false, false]);
    const over = await connect(port);
    assert.equal(over.closedAtOnce, true, 'the fourth connection from one address is closed');
    held[0]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const again = await connect(port);
    assert.equal(again.closedAtOnce, false, 'a slot freed by a close is usable again');
    for (const h of [...held, again]) h.socket.destroy();
  });

  test('in total: connections over the cap are closed at once', async () => {
    const { port, app } = await start({ limits: { maxConnections: 2, maxConnectionsPerAddress: 100 } });
    const held = [await connect(port), await connect(port)];
    assert.equal((await connect(port)).closedAtOnce, true);
    for (const h of held) h.socket.destroy();
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(m.body, /warden_connections_refused_total\{reason="total"\} 1/);
  });
});

describe("Node's HTTP parser rejections answer in the API's error shape and close the connection", () => {
  const cases: Array<[string, string, number, string]> = [
    ['bare CR in a header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 400, 'bad_request'],
    ['Content-Length with Transfer-Encoding', 'POST /v1/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
    ['a bad chunk size', 'POST /v1/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n', 400, 'bad_request'],
    ['a space before the colon', 'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n', 400, 'bad_request'],
    ['headers over the limit', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
  ];
  for (const [what, text, status, code] of cases) {
    test(what, async () => {
      const { port } = await start();
      const r = await rawRequest(port, text);
      assert.equal(r.status, status, r.raw.slice(0, 200));
      assert.equal(r.json.error?.code, code, r.raw.slice(0, 300));
      assert.equal(typeof r.json.error?.message, 'string');
      assert.match(r.raw, /\r\nconnection: close\r\n/i);
    });
  }
});

test('Expect: 100-continue with a declared body over the limit: 413 at once, never 100 Continue', async () => {
  const { port } = await start({ bodyLimit: 4096 });
  const { status, body, continued } = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
    let continued = false;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/attest', headers: { 'content-type': 'application/json', 'content-length': '10000000', expect: '100-continue' } });
    req.on('continue', () => (continued = true));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, continued });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
  assert.equal(continued, false, 'no 100 Continue for a body that will be refused');
  assert.equal(status, 413);
  assert.equal(JSON.parse(body).error.code, 'body_too_large');
  // Within the limit, the client is told to go on.
  const ok = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/challenge', headers: { 'content-type': 'application/json', 'content-length': '2', expect: '100-continue' } });
    req.on('continue', () => req.end('{}'));
    req.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    req.on('error', reject);
    req.flushHeaders();
  });
  assert.equal(ok, 200);
});

test('credentials in the URL and in headers never reach the request log', async () => {
  const logs: string[] = [];
  const stream = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
  const { port, admin } = await start({ logger: { level: 'trace', stream } });
  const planted = `wdn_0123456789abcdef_${crypto.randomBytes(24).toString('base64url')}`;
  const other = crypto.randomBytes(12).toString('hex');
  for (const url of [`/v1/admin/secrets?access_token=${planted}`, `/v1/admin/audit?limit=5&token=${other}`, `/${planted}`, `/v1/challenge?API_KEY=${other}`]) {
    await rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nCookie: s=${other}\r\nContent-Length: 0\r\n\r\n`);
  }
  const text = logs.join('');
  assert.ok(text.includes('/v1/admin/secrets?access_token=[redacted]'), 'the request is logged, with the credential redacted');
  for (const secret of [planted.slice(21), other, admin.slice(21)]) assert.ok(!text.includes(secret), `log leaks ${secret.slice(0, 6)}...`);
});

test('redactUrl keeps ordinary parameters and paths', () => {
  assert.equal(redactUrl('/v1/admin/audit?limit=5&afterId=2'), '/v1/admin/audit?limit=5&afterId=2');
  assert.equal(redactUrl('/x?Access%5FToken=abc&limit=1'), '/x?Access%5FToken=[redacted]&limit=1');
  assert.equal(redactUrl('/x?password=p&secret=s&sig=t'), '/x?password=[redacted]&secret=[redacted]&sig=[redacted]');
});

describe('request details', () => {
  test('query integers are decimal digits only', async () => {
    const { app, admin } = await start();
    const h = { authorization: `Bearer ${admin}` };
    for (const limit of ['1e3', '0x10', '%207', '1.0', '+5', '-1', '', '1&limit=2']) {
      const r = await app.inject({ method: 'GET', url: `/v1/admin/audit?limit=${limit}`, headers: h });
      assert.equal(r.statusCode, 400, `limit=${limit}: ${r.body}`);
      assert.equal(r.json().error.code, 'bad_request');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/v1/admin/audit?limit=20&afterId=0', headers: h })).statusCode, 200);
  });

  test('a body in a charset other than UTF-8 is refused; utf-8 in any spelling is read', async () => {
    const { app } = await start();
    for (const ct of ['application/json; charset=utf-16', 'application/json; charset=iso-8859-1', 'application/json;charset="UTF-16LE"']) {
      const r = await app.inject({ method: 'POST', url: '/v1/challenge', payload: '{}', headers: { 'content-type': ct } });
      assert.equal(r.statusCode, 415, ct);
      assert.equal(r.json().error.code, 'unsupported_media_type');
    }
    for (const ct of ['application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/json;charset=utf8']) {
      assert.equal((await app.inject({ method: 'POST', url: '/v1/challenge', payload: '{}', headers: { 'content-type': ct } })).statusCode, 200, ct);
    }
  });
});

describe('TLS', () => {
  function handshake(port: number, o: tls.ConnectionOptions): Promise<{ ok: true; cipher: string; version: string } | { ok: false; error: string }> {
    return new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: certs.ca, servername: 'localhost', ...o }, () => {
        resolve({ ok: true, cipher: s.getCipher().name, version: s.getProtocol() ?? '' });
        s.destroy();
      });
      s.on('error', (e) => resolve({ ok: false, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    });
  }

  test('TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305; TLS 1.3 works', async () => {
    const { port } = await start({ https: { key: certs.key, cert: certs.cert } });
    for (const ciphers of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-ARIA128-GCM-SHA256', 'ECDHE-ECDSA-AES128-CCM']) {
      const r = await handshake(port, { maxVersion: 'TLSv1.2', ciphers });
      assert.equal(r.ok, false, `${ciphers} must be refused: ${JSON.stringify(r)}`);
    }
    for (const ciphers of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
      const r = await handshake(port, { maxVersion: 'TLSv1.2', ciphers });
      assert.deepEqual(r, { ok: true, cipher: ciphers, version: 'TLSv1.2' });
    }
    const t13 = await handshake(port, {});
    assert.ok(t13.ok && t13.version === 'TLSv1.3', JSON.stringify(t13));
  });

  test('the suites and the floor can be changed', async () => {
    const { port } = await start({ https: { key: certs.key, cert: certs.cert, minVersion: 'TLSv1.3' } });
    assert.equal((await handshake(port, { maxVersion: 'TLSv1.2' })).ok, false);
    const only = await start({ https: { key: certs.key, cert: certs.cert, ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' } });
    assert.equal((await handshake(only.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).ok, false);
  });
});
