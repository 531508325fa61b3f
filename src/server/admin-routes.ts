// Handlers of /v1/admin/...: policies, secrets, audit trail and recent decisions.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PolicySet } from '../policy/types.ts';
import { authorize } from './auth.ts';
import type { AppDeps, AuditEntryLike, SecretMetaLike } from './deps.ts';
import { auditReasonOf, codeOf } from '../protocol/errors.ts';
import { ApiError } from './errors.ts';
import { PolicyLoadError } from './policy-source.ts';
import { decodeBase64Strict } from '../protocol/wire.ts';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

function iso(v: string | Date | null | undefined): string | null {
  if (v === undefined || v === null) return null;
  return v instanceof Date ? v.toISOString() : v;
}

function metaOut(m: SecretMetaLike) {
  return { name: m.name, kind: m.kind, version: m.version, createdAt: iso(m.createdAt) ?? '', rotatedAt: iso(m.rotatedAt) };
}

function entryOut(e: AuditEntryLike) {
  return { id: e.id, type: e.type, at: e.ts, actor: e.actor ?? null, outcome: e.outcome ?? null, data: e.data, prevHash: e.prevHash, hash: e.hash };
}

function policiesOut(set: PolicySet) {
  return {
    policySetHash: set.hash,
    policies: set.policies.map((p) => ({ name: p.name, version: p.version, secrets: p.secrets.map((s) => s.name) })),
  };
}

export function adminHandlers(deps: AppDeps): Record<string, Handler> {
  const act = (actor: string, action: string, data: Record<string, unknown>) =>
    deps.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action, ...data } });
  // Secret changes: the store commits the change and its audit entry in one transaction.

  return {
    adminListPolicies: async (req) => {
      await authorize(req, deps.tokens, 'auditor');
      return policiesOut(deps.policies.current());
    },
    adminReloadPolicies: async (req) => {
      const who = await authorize(req, deps.tokens, 'admin');
      let set: PolicySet;
      try {
        set = await deps.policies.reload();
      } catch (e) {
        const reason = auditReasonOf(codeOf(e));
        await deps.audit.append({ type: 'admin', actor: who.id, outcome: 'failed', data: { action: 'policies.reload', ...(reason ? { reason } : {}) } });
        if (!(e instanceof PolicyLoadError)) throw e; // a bug, not a bad policy file: internal_error
        throw new ApiError('policy_load_failed', `policies not reloaded, the previous set stays in force: ${(e as Error).message}`.slice(0, 2000));
      }
      await act(who.id, 'policies.reload', { policySetHash: set.hash, count: set.policies.length });
      return policiesOut(set);
    },
    adminListSecrets: async (req) => {
      await authorize(req, deps.tokens, 'auditor');
      return { secrets: (await deps.secrets.list()).map(metaOut) };
    },
    adminCreateSecret: async (req, reply) => {
      const who = await authorize(req, deps.tokens, 'admin');
      const body = req.body as { name: string; kind?: 'sefs-key' | 'bytes'; value?: string };
      const value = body.value === undefined ? undefined : decodeBase64Strict(body.value, 'value');
      // Store errors answer as the error table says (tampered storage or a wrong master key: 500, no detail).
      // The audit entry commits with the secret.
      const meta = await deps.secrets.create(body.name, body.kind ?? 'sefs-key', value, { actor: who.id });
      reply.code(201);
      return metaOut(meta);
    },
    adminRotateSecret: async (req) => {
      const who = await authorize(req, deps.tokens, 'admin');
      const { name } = req.params as { name: string };
      const body = (req.body ?? {}) as { value?: string };
      const value = body.value === undefined ? undefined : decodeBase64Strict(body.value, 'value');
      const meta = await deps.secrets.rotate(name, value, { actor: who.id });
      return metaOut(meta);
    },
    adminDeleteSecret: async (req) => {
      const who = await authorize(req, deps.tokens, 'admin');
      const { name } = req.params as { name: string };
      const deleted = await deps.secrets.delete(name, { actor: who.id });
      if (!deleted) throw new ApiError('secret_not_found', `no secret named ${name}`);
      return { deleted: true };
    },
    adminAuditList: async (req) => {
      await authorize(req, deps.tokens, 'auditor');
      const q = req.query as { limit?: number; afterId?: number; type?: string };
      const opts: { limit?: number; afterId?: number; type?: string } = { limit: q.limit ?? 100 };
      if (q.afterId !== undefined) opts.afterId = q.afterId;
      if (q.type !== undefined) opts.type = q.type;
      return { entries: (await deps.audit.list(opts)).map(entryOut) };
    },
    adminAuditVerify: async (req) => {
      await authorize(req, deps.tokens, 'auditor');
      return await deps.audit.verify();
    },
    adminDecisions: async (req) => {
      await authorize(req, deps.tokens, 'auditor');
      const { limit = 50 } = req.query as { limit?: number };
      return { entries: (await deps.audit.recent(limit, 'attestation')).map(entryOut) };
    },
  };
}
