// The metrics Warden exposes on /metrics.
import type { AuditLogLike } from './deps.ts';
import type { CollateralSource } from './collateral-source.ts';
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, Registry } from './metrics.ts';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly attestations: Counter;
  readonly verificationSeconds: Histogram;
  readonly requestSeconds: Histogram;
  readonly rateLimited: Counter;
  readonly connectionsRefused: Counter;
  readonly clientErrors: Counter;
  readonly adminAuthFailures: Counter;
  /** Age of the collateral used by the last verification, by FMSPC. */
  private readonly collateralAge = new Map<string, number>();

  constructor(collateral?: CollateralSource, audit?: AuditLogLike) {
    const r = this.registry;
    // Audit appends commit in groups (src/store/audit.ts): entries per commit shows how well they group.
    r.add(new Gauge('warden_audit_entries_total', 'Audit entries this process committed.', () => (audit?.stats ? [[{}, audit.stats().entries]] : []), 'counter'));
    r.add(new Gauge('warden_audit_commits_total', 'Audit group commits (transactions) of this process.', () => (audit?.stats ? [[{}, audit.stats().groups]] : []), 'counter'));
    this.attestations = r.add(new Counter('warden_attestations_total', 'Attestation decisions by outcome and reason code.'));
    this.verificationSeconds = r.add(new Histogram('warden_quote_verification_seconds', 'Time to fetch collateral for and verify one quote.', LATENCY_BUCKETS));
    this.requestSeconds = r.add(new Histogram('warden_http_request_duration_seconds', 'HTTP request latency by route and status.', LATENCY_BUCKETS));
    this.rateLimited = r.add(new Counter('warden_rate_limited_total', 'Requests refused by the per-client rate limit, by route.'));
    this.connectionsRefused = r.add(new Counter('warden_connections_refused_total', 'Connections closed at accept because a connection cap was reached (total or per_address).'));
    this.clientErrors = r.add(new Counter('warden_http_client_errors_total', 'Requests refused by the HTTP parser or timed out before a route was chosen, by error code.'));
    this.adminAuthFailures = r.add(new Counter('warden_admin_auth_failures_total', 'Admin API requests refused 401/403, by code.'));
    r.add(new Gauge('warden_collateral_cache_hits_total', 'Collateral lookups served from the cache.', () =>
      collateral?.stats ? [[{}, collateral.stats().hits]] : [], 'counter'));
    r.add(new Gauge('warden_collateral_cache_misses_total', 'Collateral lookups that went to a PCCS.', () =>
      collateral?.stats ? [[{}, collateral.stats().misses]] : [], 'counter'));
    r.add(new Gauge('warden_collateral_age_seconds', 'Age of the collateral (oldest issue date) used by the latest verification, by FMSPC.', () =>
      [...this.collateralAge].map(([fmspc, age]) => [{ fmspc }, age])));
  }

  collateralUsed(fmspc: string, issuedAt: Date, now: Date): void {
    this.collateralAge.set(fmspc, Math.max(0, (now.getTime() - issuedAt.getTime()) / 1000));
  }

  render(): string {
    return this.registry.render();
  }
}
