// The attestation decision: checks in the protocol's order, first failure answers, every outcome audited.
import { parseQuote } from '../dcap/quote.ts';
import type { Quote, ReportBody, Verification } from '../dcap/types.ts';
import { evaluate } from '../policy/evaluate.ts';
import type { Decision } from '../policy/types.ts';
import type { AttestRequest, AttestResponse } from '../protocol/api.ts';
import { assertP256Point } from '../crypto/p256.ts';
import { sealSecret } from '../secrets/sealing.ts';
import { signJwtEs256 } from '../secrets/jwt.ts';
import type { AppDeps } from './deps.ts';
import { earClaims } from './ear.ts';
import { auditReasonOf } from '../protocol/errors.ts';
import type { AuditSummary } from './audit-summary.ts';
import { ApiError, toApiError } from './errors.ts';
import type { ServerMetrics } from './server-metrics.ts';
import { bindsNonceAndKey, decodeBase64Strict } from '../protocol/wire.ts';

export type { AttestRequest, AttestResponse } from '../protocol/api.ts';

/** A released secret version and the policy (name, version) that released it. */
export interface Release {
  name: string;
  version: number;
  policy: string;
  policyVersion: number | string;
}

/** What the audit trail records of the quoted code: the enclave's identity, or the TD's measurements. */
function identity(quote: Quote): Record<string, unknown> {
  if (quote.teeType === 'TDX') {
    const r = quote.body;
    return {
      tee: 'TDX',
      mrtd: r.mrTd.toString('hex'),
      rtmr0: r.rtmr0.toString('hex'),
      rtmr1: r.rtmr1.toString('hex'),
      rtmr2: r.rtmr2.toString('hex'),
      rtmr3: r.rtmr3.toString('hex'),
      mrconfigid: r.mrConfigId.toString('hex'),
      debug: r.debug,
    };
  }
  const report = quote.body;
  return {
    mrenclave: report.mrEnclave.toString('hex'),
    mrsigner: report.mrSigner.toString('hex'),
    isvprodid: report.isvProdId,
    isvsvn: report.isvSvn,
    debug: report.debug,
  };
}

/** The failed checks of a denial, as `policy/check` codes: the enclave learns why, never secret material. */
export function failedChecks(d: Decision): string[] {
  const matched = d.policies.filter((p) => p.matched);
  if (!matched.length) return ['identity_not_listed'];
  const out = new Set<string>();
  for (const p of matched) for (const c of p.checks) if (!c.ok) out.add(`${p.name}/${c.name}`);
  if (!out.size) out.add('secrets_not_released');
  return [...out].sort();
}

/** The distinct policies of a release, in the order they first appear. */
function releasingPolicies(released: Release[]): Array<{ name: string; version: number | string }> {
  const out = new Map<string, { name: string; version: number | string }>();
  for (const r of released) if (!out.has(r.policy)) out.set(r.policy, { name: r.policy, version: r.policyVersion });
  return [...out.values()];
}

export interface DecisionLog {
  info(fields: Record<string, unknown>, msg: string): void;
}

/** What a decision's log line carries: the audit entry's facts (it never holds a value) with outcome and reason. */
function decisionLogFields(outcome: 'allowed' | 'denied', reason: string, audit: Record<string, unknown>): Record<string, unknown> {
  const pick = ['mrenclave', 'mrsigner', 'isvprodid', 'isvsvn', 'debug', 'tcbStatus', 'policy', 'policies', 'checks', 'requested', 'released', 'simulated'];
  const out: Record<string, unknown> = { outcome, reason };
  for (const k of pick) if (audit[k] !== undefined) out[k] = audit[k];
  return out;
}

export class Attestor {
  constructor(
    private readonly deps: AppDeps,
    private readonly metrics: ServerMetrics,
    private readonly opts: { now: () => Date; tokenTtlSeconds: number; beforeNonce?: AuditSummary },
  ) {}

  /** `log` gets one line per decision: outcome and reason code, names and versions, never a value. */
  async attest(req: AttestRequest, client: string, log?: DecisionLog): Promise<AttestResponse> {
    const audit: Record<string, unknown> = { client, requested: [...req.secrets] };
    if (req.serverKeyId !== undefined) audit['serverKeyId'] = req.serverKeyId;
    // A decision made against the simulated root says so wherever it is recorded.
    if (this.deps.root === 'simulated') audit['simulated'] = true;
    try {
      const res = await this.decide(req, audit);
      // No secret leaves before its audit entry has committed: a failed commit fails the release.
      await this.deps.audit.append({ type: 'attestation', outcome: 'allowed', data: audit });
      this.metrics.attestations.inc({ outcome: 'allowed', reason: 'ok' });
      log?.info({ decision: decisionLogFields('allowed', 'ok', audit) }, 'attestation allowed');
      return res;
    } catch (e) {
      // A bug is internal_error (500, logged with its stack by the app's error handler), never the client's fault.
      const err = toApiError(e);
      this.metrics.attestations.inc({ outcome: 'denied', reason: err.code });
      // The error table says which failures are audited (shape errors are not: nothing was decided about anyone).
      const reason = auditReasonOf(err.code);
      if (reason && audit['nonce'] === undefined && this.opts.beforeNonce) {
        // Refused before the nonce check passed: anyone can send these, so they are counted and summarised,
        // never one row each (README, "What is audited").
        this.opts.beforeNonce.note(reason, client);
      } else if (reason) {
        audit['reason'] = reason;
        if (err.checks) audit['checks'] = err.checks;
        await this.deps.audit.append({ type: 'attestation', outcome: 'denied', data: audit });
      }
      log?.info({ decision: decisionLogFields('denied', err.code, audit) }, `attestation denied: ${err.code}`);
      throw err;
    }
  }

  private async decide(req: AttestRequest, audit: Record<string, unknown>): Promise<AttestResponse> {
    // 1. Request shape beyond the schema: exact base64, sizes, a real curve point.
    const nonce = decodeBase64Strict(req.nonce, 'nonce', 32);
    const quoteBytes = decodeBase64Strict(req.quote, 'quote');
    const publicKey = decodeBase64Strict(req.publicKey, 'publicKey', 65);
    try {
      // Checked on the raw point: the seal below works on these bytes, never on an imported KeyObject.
      assertP256Point(publicKey);
    } catch {
      throw new ApiError('bad_request', 'publicKey is not an uncompressed P-256 point on the curve');
    }
    if (req.secrets.length === 0) throw new ApiError('bad_request', 'secrets must name at least one secret');

    // 2. The nonce, consumed atomically: whatever happens next, it cannot be used again.
    const now = this.opts.now();
    const state = await this.deps.nonces.consume(nonce, now);
    if (state !== 'ok') {
      const code = state === 'unknown' ? 'nonce_unknown' : state === 'used' ? 'nonce_used' : 'nonce_expired';
      throw new ApiError(code, `nonce is ${state === 'unknown' ? 'unknown' : state}; ask /v1/challenge for a new one`);
    }
    // The consumed nonce (public, single-use) ties this entry to the response and token that carry it.
    audit['nonce'] = req.nonce;

    // 2b. The server key to seal with: the one the image pinned while it is in the ring, else the current one.
    const hpke = await this.deps.keys.hpke(req.serverKeyId);
    audit['serverKeyId'] = hpke.id;

    // 3-4. Parse and verify the quote (parse errors 400, verification 403, collateral 503).
    const started = process.hrtime.bigint();
    let verification: Verification;
    let quote: Quote | undefined;
    try {
      // Parsed once: a quote that fails verification still has its identity audited.
      quote = parseQuote(quoteBytes);
      verification = await this.deps.verifyQuote(quote, now);
    } catch (e) {
      if (quote) Object.assign(audit, identity(quote));
      throw e;
    } finally {
      this.metrics.verificationSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
    Object.assign(audit, identity(verification.quote), {
      tcbStatus: verification.status,
      advisoryIds: verification.advisoryIds,
      fmspc: verification.fmspc,
    });
    this.metrics.collateralUsed(verification.fmspc, verification.collateralIssuedAt, now);

    // 5. The quote must bind this nonce and this key, and nothing else.
    if (!bindsNonceAndKey(verification.report.reportData, nonce, publicKey)) {
      throw new ApiError('binding_mismatch', 'report data is not SHA-256("warden/v1" || nonce || publicKey) followed by 32 zero bytes');
    }

    // 6. Policy: every requested secret released, or nothing.
    const policySet = this.deps.policies.current();
    audit['policySetHash'] = policySet.hash;
    const decision = evaluate(policySet, verification, { now, requestedSecrets: req.secrets });
    const releases = decision.allowed ? await this.collect(req.secrets, decision) : null;
    if (!decision.allowed || !releases || decision.policy === null) {
      throw new ApiError('policy_denied', 'no policy releases every requested secret to this enclave', failedChecks(decision));
    }
    // Each secret names the policy that released it: several policies may have released one request.
    const released: Release[] = releases.map((r) => ({ name: r.name, version: r.version, policy: r.policy, policyVersion: r.policyVersion }));
    const policies = releasingPolicies(released);
    audit['policies'] = policies;

    // 7. Seal each value to the enclave's key, authenticated by the server's static HPKE key.
    const sealed = releases.map((r, i) => {
      const { enc, ciphertext } = sealSecret({ recipientPublicKey: publicKey, senderPrivateKey: hpke.privateKey, name: r.name, nonce, value: r.value });
      return { ...released[i]!, enc: enc.toString('base64'), ciphertext: ciphertext.toString('base64') };
    });
    audit['released'] = released;

    const token = signJwtEs256(
      earClaims({
        verification,
        nonce: req.nonce,
        policies,
        policySetHash: policySet.hash,
        released,
        serverKeyId: hpke.id,
        root: this.deps.root,
        now,
        ttlSeconds: this.opts.tokenTtlSeconds,
      }),
      await this.deps.keys.currentTokenKey(),
    );
    return { token, secrets: sealed, policy: decision.policy, policies, tcbStatus: verification.status, serverKeyId: hpke.id };
  }

  /** The versions to release; null when a requested secret has no value (denied like an unreleased one). */
  private async collect(names: string[], decision: Decision): Promise<Array<Release & { value: Buffer }> | null> {
    const out: Array<Release & { value: Buffer }> = [];
    for (const name of names) {
      const grant = decision.releasedBy[name];
      if (!grant) return null;
      const versions = await this.deps.secrets.releasable(name);
      if (!versions.length) return null;
      const current = Math.max(...versions.map((v) => v.meta.version));
      for (const v of versions) {
        if (grant.versions === 'current' && v.meta.version !== current) continue;
        out.push({ name, version: v.meta.version, policy: grant.policy, policyVersion: grant.policyVersion, value: v.value });
      }
    }
    return out;
  }
}
