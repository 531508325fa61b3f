// A sim PCCS: serves the sim PKI's collateral through the Intel PCS/PCCS API v4 (and v3 TCB Info), TDX TCB Info
// and the TD QE identity under /tdx/certification/v4 as Intel's PCS does,
// over real HTTP, with switchable failure modes for the collateral client's tests.
// The one file of src/sim that does socket I/O.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { PckCaKind } from '../dcap/types.ts';
import { derToPem } from './certs.ts';
import { makeCollateral, type CollateralOptions } from './collateral.ts';
import { newP256Key } from './keys.ts';
import type { SimPki } from './pki.ts';
import { qeIdentityResponse, tcbInfoResponse } from './signed-json.ts';

export const PCCS_FAILURES = ['none', '5xx', 'timeout', 'html', 'truncated', 'badsig', 'wrongfmspc'] as const;
export type PccsFailure = (typeof PCCS_FAILURES)[number];

/** Collateral settings the PCCS applies to every response (FMSPC and CA come from the request). */
export type PccsCollateralOptions = Omit<CollateralOptions, 'platform' | 'fmspc' | 'ca' | 'pckCrlCa'>;

export interface PccsServerOptions {
  pki: SimPki;
  port?: number; // default 0 (ephemeral)
  host?: string; // default 127.0.0.1
  fail?: PccsFailure;
  /**
   * FMSPCs the PCCS knows (others get 404, as Intel's PCS answers for unregistered platforms).
   * Default: every well-formed FMSPC gets default TCB Info, as if all sim platforms were registered.
   */
  knownFmspcs?: string[];
  collateral?: PccsCollateralOptions;
}

export interface PccsRequestRecord {
  method: string;
  url: string;
  status: number;
}

export interface PccsServer {
  url: string;
  port: number;
  /** Switch failure mode at run time. */
  setFailure(mode: PccsFailure): void;
  setCollateralOptions(opts: PccsCollateralOptions): void;
  setKnownFmspcs(fmspcs: string[] | undefined): void;
  /** Every request answered so far, oldest first. */
  readonly requests: PccsRequestRecord[];
  close(): Promise<void>;
}

const FMSPC_RE = /^[0-9a-fA-F]{12}$/;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

const text = (status: number, message: string): Reply => ({
  status,
  headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  body: message,
});

function flipSignatureHex(body: string): string {
  // Flip one hex digit of the "signature" value; the JSON stays well-formed.
  return body.replace(/("signature":")([0-9a-f])/, (_, p: string, c: string) => p + (c === '0' ? '1' : '0'));
}

export async function startPccsServer(o: PccsServerOptions): Promise<PccsServer> {
  let failure: PccsFailure = o.fail ?? 'none';
  let collateralOpts: PccsCollateralOptions = o.collateral ?? {};
  let known: Set<string> | undefined = o.knownFmspcs ? new Set(o.knownFmspcs.map((f) => f.toLowerCase())) : undefined;
  const requests: PccsRequestRecord[] = [];
  const sockets = new Set<Socket>();
  const wrongKey = newP256Key();

  const collateral = (extra: Partial<CollateralOptions>) =>
    makeCollateral(o.pki, {
      ...collateralOpts,
      ...extra,
      ...(failure === 'badsig' ? { rootCrl: { ...collateralOpts.rootCrl, signingKey: wrongKey }, pckCrl: { ...collateralOpts.pckCrl, signingKey: wrongKey } } : {}),
    });

  async function route(url: URL): Promise<Reply> {
    const q = url.searchParams;
    const m = /^\/(sgx|tdx)\/certification\/(v3|v4)\/(tcb|qe\/identity|pckcrl|rootcacrl)$/.exec(url.pathname);
    if (!m) return text(404, 'Not Found');
    const [, teePath, api, what] = m;
    // Intel serves TDX TCB Info and the TD QE identity under /tdx/certification/v4 only; CRLs only under /sgx.
    const tdx = teePath === 'tdx';
    if (tdx && (api !== 'v4' || (what !== 'tcb' && what !== 'qe/identity'))) return text(404, 'Not Found');
    const tee = tdx ? ({ tee: 'TDX' } as const) : {};
    if (what === 'tcb') {
      const fmspc = q.get('fmspc');
      if (!fmspc || !FMSPC_RE.test(fmspc)) return text(400, 'Invalid or missing fmspc');
      if (q.has('update') && q.has('tcbEvaluationDataNumber')) return text(400, 'update and tcbEvaluationDataNumber are exclusive');
      const update = q.get('update');
      if (update !== null && update !== 'early' && update !== 'standard') return text(400, 'Invalid update');
      if (known && !known.has(fmspc.toLowerCase())) return text(404, 'No TCB Info for this FMSPC');
      const served = failure === 'wrongfmspc' ? (fmspc.toLowerCase() === '00906ed50000' ? '00A067110000' : '00906ED50000') : fmspc;
      const v2 = api === 'v3';
      const c = await collateral({
        fmspc: served,
        ...tee,
        tcbInfo: { ...collateralOpts.tcbInfo, fmspc: served.toUpperCase(), ...(v2 ? { version: 2 } : {}), ...(tdx ? { id: 'TDX' } : {}) },
      });
      return {
        status: 200,
        headers: {
          'Content-Type': 'application/json',
          [v2 ? 'SGX-TCB-Info-Issuer-Chain' : 'TCB-Info-Issuer-Chain']: encodeURIComponent(c.tcbInfoIssuerChain),
        },
        body: tcbInfoResponse(c.tcbInfo, c.tcbInfoSignature),
      };
    }
    if (what === 'qe/identity') {
      const c = await collateral({ ...tee, ...(tdx ? { qeIdentity: { ...collateralOpts.qeIdentity, id: 'TD_QE' } } : {}) });
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json', 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(c.qeIdentityIssuerChain) },
        body: qeIdentityResponse(c.qeIdentity, c.qeIdentitySignature),
      };
    }
    if (what === 'pckcrl') {
      const ca = q.get('ca');
      if (ca !== 'processor' && ca !== 'platform') return text(400, 'ca must be processor or platform');
      const encoding = q.get('encoding');
      if (encoding !== null && encoding !== 'der' && encoding !== 'pem') return text(400, 'encoding must be der or pem');
      const c = await collateral({ ca: ca as PckCaKind });
      const der = encoding === 'der';
      return {
        status: 200,
        headers: {
          'Content-Type': der ? 'application/pkix-crl' : 'application/x-pem-file',
          'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(c.pckCrlIssuerChain),
        },
        body: der ? c.pckCrl : derToPem(c.pckCrl, 'X509 CRL'),
      };
    }
    // rootcacrl: Intel's PCCS serves the hex text of the DER.
    const c = await collateral({});
    return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: c.rootCaCrl.toString('hex') };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(16).toString('hex');
    const record = (status: number) => requests.push({ method: req.method ?? '', url: req.url ?? '', status });
    if (failure === 'timeout') {
      record(0);
      return; // never answer; close() ends the socket
    }
    let reply: Reply;
    if (req.method !== 'GET') reply = text(405, 'Method Not Allowed');
    else if (failure === '5xx') reply = text(503, 'Service Unavailable');
    else {
      try {
        reply = await route(new URL(req.url ?? '/', 'http://pccs.invalid'));
      } catch {
        reply = text(500, 'Internal Server Error');
      }
    }
    if (failure === 'html' && reply.status === 200) {
      reply = { status: 200, headers: { 'Content-Type': 'text/html' }, body: '<html><head><title>Proxy</title></head><body>Please log in</body></html>' };
    }
    if (failure === 'badsig' && reply.status === 200 && typeof reply.body === 'string' && reply.body.startsWith('{')) {
      reply.body = flipSignatureHex(reply.body);
    }
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
    record(reply.status);
    res.writeHead(reply.status, { ...reply.headers, 'Request-ID': requestId, 'Content-Length': String(body.length) });
    if (failure === 'truncated' && reply.status === 200) {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setImmediate(() => res.destroy());
      return;
    }
    res.end(body);
  }

  const server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    setFailure: (mode) => {
      failure = mode;
    },
    setCollateralOptions: (opts) => {
      collateralOpts = opts;
    },
    setKnownFmspcs: (fmspcs) => {
      known = fmspcs ? new Set(fmspcs.map((f) => f.toLowerCase())) : undefined;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
