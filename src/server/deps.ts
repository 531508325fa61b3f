// What the server needs from the stores, described by shape so tests can build the app from real
// stores (src/store/) or from anything else that behaves the same.
import type { KeyObject } from 'node:crypto';
import type { PolicySet } from '../policy/types.ts';
import type { AuditEntry } from '../store/audit.ts';
import type { CollateralSource } from './collateral-source.ts';
import type { HttpLimits } from './http-limits.ts';
import type { QuoteVerifier } from './quote-verifier.ts';

export interface SecretMetaLike {
  name: string;
  kind: 'sefs-key' | 'bytes';
  version: number;
  createdAt: string | Date;
  rotatedAt?: string | Date | null;
}

// Every store call is async: the store may be SQLite in this process or PostgreSQL across the network.
export interface NonceStoreLike {
  /** Costs no database work (self-authenticating nonces). */
  issue(ttlMs: number, now?: Date): { nonce: Buffer; expiresAt: Date };
  consume(nonce: Buffer, now?: Date): Promise<'ok' | 'unknown' | 'used' | 'expired'>;
}

/** Who made a change; the store commits the change and its audit entry in one transaction. */
export interface AuditedByLike {
  actor: string;
  extra?: Record<string, unknown>;
}

export interface SecretStoreLike {
  create(name: string, kind: 'sefs-key' | 'bytes', value?: Buffer, by?: AuditedByLike): Promise<SecretMetaLike>;
  rotate(name: string, value?: Buffer, by?: AuditedByLike): Promise<SecretMetaLike>;
  list(): Promise<SecretMetaLike[]>;
  delete(name: string, by?: AuditedByLike): Promise<boolean>;
  releasable(name: string): Promise<Array<{ meta: SecretMetaLike; value: Buffer }>>;
}

export type AuditEntryLike = AuditEntry;

export interface AuditLogLike {
  /** Resolves once the entry is committed: answer only after that. */
  append(entry: { type: string; actor?: string; outcome?: string; data: Record<string, unknown> }): Promise<unknown>;
  list(opts?: { limit?: number; afterId?: number; type?: string }): Promise<AuditEntryLike[]>;
  /** Newest first. */
  recent(limit?: number, type?: string): Promise<AuditEntryLike[]>;
  /** Never blocks serving: runs in chunks. */
  verify(): Promise<{ ok: true; count: number; from?: number } | { ok: false; firstBadId: number; reason: string }>;
  /** Group commits and entries committed by this process (metrics). */
  stats?(): { groups: number; entries: number };
}

export interface AdminTokensLike {
  verify(token: string): Promise<{ id: string; role: 'admin' | 'auditor' } | null>;
}

export interface ServerKeysLike {
  /** The current HPKE key, or the one with this serverKeyId; rejects with `server_key_retired` / `server_key_unknown`. */
  hpke(serverKeyId?: string): Promise<{ id: string; privateKey: KeyObject; publicKey: Buffer }>;
  /** Every active HPKE key, current first. */
  hpkeKeys(): Promise<Array<{ id: string; publicKey: Buffer; current: boolean; createdAt: string }>>;
  tokenKeys(): Promise<Array<{ kid: string; privateKey?: KeyObject; publicKey: KeyObject; current: boolean }>>;
  currentTokenKey(): Promise<{ kid: string; privateKey: KeyObject; publicKey: KeyObject }>;
}

/** The policies in force; reload swaps them only when the whole new set loads. */
export interface PolicySource {
  current(): PolicySet;
  reload(): Promise<PolicySet> | PolicySet;
}

export type RootKind = 'intel' | 'simulated' | 'custom';

export interface AppDeps {
  nonces: NonceStoreLike;
  secrets: SecretStoreLike;
  audit: AuditLogLike;
  tokens: AdminTokensLike;
  keys: ServerKeysLike;
  policies: PolicySource;
  verifyQuote: QuoteVerifier;
  /** For /readyz and the collateral metrics. */
  collateral?: CollateralSource;
  /** Which root the verifier trusts; tokens say when it is not Intel's. */
  root: RootKind;
  /** Database reachability for /readyz. */
  dbReady?: () => Promise<boolean> | boolean;
}

export interface AppOptions {
  /** Defaults for these four: src/protocol/defaults.ts. */
  nonceTtlSeconds?: number;
  tokenTtlSeconds?: number;
  rateLimit?: { burst: number; perSecond: number } | false;
  /** Per-address limit on the admin API (src/protocol/defaults.ts). */
  adminRateLimit?: { burst: number; perSecond: number } | false;
  /** How often refusals at the nonce check and failed admin authentications are summarised in the audit trail (default 60 s; src/server/audit-summary.ts). */
  auditSummaryIntervalMs?: number;
  /** Timeouts and connection caps (src/server/http-limits.ts; defaults in src/protocol/defaults.ts). */
  limits?: Partial<HttpLimits>;
  bodyLimit?: number; // bytes
  /** Validate every JSON response against openapi.yaml (tests and dev). */
  validateResponses?: boolean;
  /** Pino logger options or false; tests pass a stream to capture everything the server logs. */
  logger?: boolean | { level?: string; stream?: NodeJS.WritableStream };
  now?: () => Date;
  openapiFile?: string;
  /** Trust X-Forwarded-For (only behind a proxy you run). */
  trustProxy?: boolean;
  /** A --workers cluster worker: /metrics answers with every worker's metrics, merged by the primary. */
  clusterMetrics?: boolean;
  /** TLS: protocol floor and OpenSSL cipher list default to TLS_MIN_VERSION / TLS_CIPHERS (src/protocol/defaults.ts). */
  https?: { key: Buffer | string; cert: Buffer | string; minVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string };
}
