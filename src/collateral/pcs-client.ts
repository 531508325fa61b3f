// Client for one Intel PCS / PCCS base URL (API v4): fetches an item's bytes and issuer chain,
// with a bounded retry and backoff for transient failures (5xx, 429, dropped connections).
import { setTimeout as sleep } from 'node:timers/promises';
import { SourceError } from './errors.ts';
import { httpGet, type HttpResponse } from './http.ts';
import type { ItemId } from './item.ts';

export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
/** Intel PCS serves no root CA CRL; it is at the root certificate's CRL distribution point. */
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export interface SourceOptions {
  /** Deadline for one HTTP exchange. Default 10 s. */
  timeoutMs?: number;
  /** Further attempts after a transient failure. Default 2. */
  retries?: number;
  /** First backoff; doubles per attempt, with jitter. Default 250 ms. */
  backoffMs?: number;
  /** Longest Retry-After honoured; a longer one moves on to the next source. Default 10 s. */
  maxRetryAfterMs?: number;
  /** Largest response accepted. Default 4 MiB (real TCB Infos are ~10 KiB, CRLs well below 1 MiB). */
  maxBytes?: number;
  /** Extra CA certificates (PEM) trusted for TLS, e.g. a local PCCS's self-signed certificate. */
  ca?: string[];
}

export interface FetchedBytes {
  raw: Buffer;
  issuerChain: string;
  url: string;
}

const ISSUER_CHAIN_HEADERS: Record<ItemId['kind'], string[]> = {
  // v4 name first; v3-era PCCS versions send the SGX- prefixed one.
  tcb_info: ['tcb-info-issuer-chain', 'sgx-tcb-info-issuer-chain'],
  qe_identity: ['sgx-enclave-identity-issuer-chain'],
  tdx_tcb_info: ['tcb-info-issuer-chain'],
  td_qe_identity: ['sgx-enclave-identity-issuer-chain'],
  pck_crl: ['sgx-pck-crl-issuer-chain'],
  root_ca_crl: [],
};

/** Accepts "https://host:8081", "https://host:8081/" or "https://host:8081/sgx/certification/v4/". */
export function normaliseBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SourceError('network', `not a URL: '${url.slice(0, 200)}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new SourceError('network', `not an http(s) URL: '${url.slice(0, 200)}'`);
  if (u.search || u.hash) throw new SourceError('network', `a source URL takes no query or fragment: '${url.slice(0, 200)}'`);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/(sgx|tdx)\/certification\/v[34]$/, '');
  return `${u.origin}${path}`;
}

export class PcsSource {
  readonly base: string;
  readonly isIntelPcs: boolean;
  private readonly o: Required<Omit<SourceOptions, 'ca'>> & { ca?: string[] };

  constructor(url: string, opts: SourceOptions = {}) {
    this.base = normaliseBaseUrl(url);
    this.isIntelPcs = new URL(this.base).hostname === new URL(INTEL_PCS_URL).hostname;
    this.o = {
      timeoutMs: opts.timeoutMs ?? 10_000,
      retries: Math.max(0, Math.min(opts.retries ?? 2, 5)),
      backoffMs: opts.backoffMs ?? 250,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 10_000,
      maxBytes: opts.maxBytes ?? 4 * 1024 * 1024,
      ...(opts.ca ? { ca: opts.ca } : {}),
    };
  }

  urlFor(id: ItemId): string {
    const v4 = `${this.base}/sgx/certification/v4`;
    const tdx = `${this.base}/tdx/certification/v4`;
    switch (id.kind) {
      case 'tdx_tcb_info':
        return `${tdx}/tcb?fmspc=${id.key.toUpperCase()}`;
      case 'td_qe_identity':
        return `${tdx}/qe/identity`;
      case 'tcb_info':
        return `${v4}/tcb?fmspc=${id.key.toUpperCase()}`;
      case 'qe_identity':
        return `${v4}/qe/identity`;
      case 'pck_crl':
        return `${v4}/pckcrl?ca=${id.key}&encoding=der`;
      case 'root_ca_crl':
        return this.isIntelPcs ? INTEL_ROOT_CA_CRL_URL : `${v4}/rootcacrl`;
    }
  }

  /** The item's bytes and issuer chain as served; not yet validated. Throws SourceError. */
  async fetch(id: ItemId): Promise<FetchedBytes> {
    const url = this.urlFor(id);
    for (let attempt = 0; ; attempt++) {
      let err: SourceError;
      try {
        const res = await httpGet(url, this.o);
        if (res.status === 200) return { raw: res.body, issuerChain: issuerChain(res, id), url };
        err = statusError(res);
      } catch (e) {
        err = e instanceof SourceError ? e : new SourceError('network', (e as Error).message, true);
      }
      if (!err.retryable || attempt >= this.o.retries) throw err;
      const wait = err.retryAfterMs ?? this.o.backoffMs * 2 ** attempt * (1 + Math.random() / 2);
      if (wait > this.o.maxRetryAfterMs) throw err;
      await sleep(wait);
    }
  }
}

function statusError(res: HttpResponse): SourceError {
  const s = res.status;
  const retryAfter = retryAfterMs(res.headers['retry-after']);
  if (s === 429) return new SourceError('http_status', 'HTTP 429 (rate limited)', true, retryAfter);
  if (s >= 500) return new SourceError('http_status', `HTTP ${s}`, true, retryAfter);
  if (s === 404) return new SourceError('http_status', 'HTTP 404 (not found: unknown FMSPC or not cached by the PCCS)');
  return new SourceError('http_status', `HTTP ${s}`);
}

function retryAfterMs(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function issuerChain(res: HttpResponse, id: ItemId): string {
  for (const name of ISSUER_CHAIN_HEADERS[id.kind]) {
    const v = res.headers[name];
    if (typeof v !== 'string') continue;
    try {
      // Intel percent-encodes (%20); a PCCS that form-encodes the chain (spaces as '+') leaves '+' only in
      // the PEM armour lines, since base64's own '+' is then %2B. Restore those spaces, nothing else.
      return decodeURIComponent(v).replace(/-----(BEGIN|END)\+CERTIFICATE-----/g, '-----$1 CERTIFICATE-----');
    } catch {
      throw new SourceError('malformed', `header ${name} is not URL-encoded`);
    }
  }
  return '';
}
