// The metrics Warden exposes on /metrics, kept by prom-client. With --workers N each worker keeps its
// own; /metrics answers with all of them merged by the primary (./cluster-metrics.ts): counters and
// histograms summed, the collateral age the worst (max) over the workers.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { qeReportSignatureCacheStats } from '../dcap/verify.ts';
import type { AuditLogLike } from './deps.ts';
import type { CollateralSource } from './collateral-source.ts';

export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly attestations: Counter<'outcome' | 'reason'>;
  readonly verificationSeconds: Histogram;
  readonly requestSeconds: Histogram<'route' | 'status'>;
  readonly rateLimited: Counter<'route'>;
  readonly connectionsRefused: Counter<'reason'>;
  readonly clientErrors: Counter<'code'>;
  readonly adminAuthFailures: Counter<'code'>;
  /** Age of the collateral used by the last verification, by FMSPC. */
  private readonly collateralAge = new Map<string, number>();

  constructor(collateral?: CollateralSource, audit?: AuditLogLike) {
    const registers = [this.registry];
    const ages = this.collateralAge;
    this.attestations = new Counter({ name: 'warden_attestations_total', help: 'Attestation decisions by outcome and reason code.', labelNames: ['outcome', 'reason'], registers });
    this.verificationSeconds = new Histogram({ name: 'warden_quote_verification_seconds', help: 'Time to fetch collateral for and verify one quote.', buckets: LATENCY_BUCKETS, registers });
    this.requestSeconds = new Histogram({ name: 'warden_http_request_duration_seconds', help: 'HTTP request latency by route and status.', labelNames: ['route', 'status'], buckets: LATENCY_BUCKETS, registers });
    this.rateLimited = new Counter({ name: 'warden_rate_limited_total', help: 'Requests refused by the per-client rate limit, by route.', labelNames: ['route'], registers });
    this.connectionsRefused = new Counter({ name: 'warden_connections_refused_total', help: 'Connections closed at accept because a connection cap was reached (total or per_address).', labelNames: ['reason'], registers });
    this.clientErrors = new Counter({ name: 'warden_http_client_errors_total', help: 'Requests refused by the HTTP parser or timed out before a route was chosen, by error code.', labelNames: ['code'], registers });
    this.adminAuthFailures = new Counter({ name: 'warden_admin_auth_failures_total', help: 'Admin API requests refused 401/403, by code.', labelNames: ['code'], registers });
    new Gauge({
      name: 'warden_server_processes',
      help: 'Server processes whose metrics this answer merges (the --workers that answered).',
      registers,
      collect() {
        this.set(1);
      },
    });
    // Totals kept elsewhere (collateral provider, audit log), copied in when scraped.
    const total = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    if (audit?.stats) {
      const stats = audit.stats.bind(audit);
      // Audit appends commit in groups (src/store/audit.ts): entries per commit shows how well they group.
      total('warden_audit_entries_total', 'Audit entries this server committed.', () => stats().entries);
      total('warden_audit_commits_total', 'Audit group commits (transactions) of this server.', () => stats().groups);
    }
    if (collateral?.stats) {
      const stats = collateral.stats.bind(collateral);
      total('warden_collateral_cache_hits_total', 'Collateral lookups served from the cache.', () => stats().hits);
      total('warden_collateral_cache_misses_total', 'Collateral lookups that went to a PCCS.', () => stats().misses);
    }
    // The QE-report signature verdicts (src/dcap/verify.ts): the benchmark reads the hit rate here.
    total('warden_qe_report_signature_cache_hits_total', 'QE-report signatures found in the cache of valid ones (no ECDSA verification).', () => qeReportSignatureCacheStats().hits);
    total('warden_qe_report_signature_cache_misses_total', 'QE-report signatures verified with ECDSA (not in the cache).', () => qeReportSignatureCacheStats().misses);
    new Gauge({
      name: 'warden_collateral_age_seconds',
      help: 'Age of the collateral (oldest issue date) used by the latest verification, by FMSPC (the oldest over the workers).',
      labelNames: ['fmspc'],
      aggregator: 'max',
      registers,
      collect() {
        for (const [fmspc, age] of ages) this.set({ fmspc }, age);
      },
    });
  }

  collateralUsed(fmspc: string, issuedAt: Date, now: Date): void {
    this.collateralAge.set(fmspc, Math.max(0, (now.getTime() - issuedAt.getTime()) / 1000));
  }

  /** This process's metrics in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
