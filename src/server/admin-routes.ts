// Handlers of /v1/admin/...: policies, secrets, audit trail and recent decisions.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PolicySet } from '../policy/types.ts';
import { authorize } from './auth.ts';
import type { AppDeps, AuditEntryLike, SecretMetaLike } from './deps.ts';
import { ApiError, isApiErrorCode } from './errors.ts';
import { decodeBase64Strict } from './wire.ts';

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

/** Store errors keep their codes; an unknown code from a store is the caller's input problem. */
function storeError(e: unknown): never {
  const code = (e as { code?: unknown })?.code;
  if (e instanceof ApiError) throw e;
  if (isApiErrorCode(code)) throw new ApiError(code, (e as Error).message);
  // Tampered storage or the wrong master key: the server's fault, and no detail for the caller.
  if (code === 'secret_decrypt_failed') throw new ApiError('internal_error', 'stored secret failed its integrity check');
  if (typeof code === 'string' && /^(invalid_|secret_)/.test(code)) throw new ApiError('bad_request', (e as Error).message);
  throw e;
}

export function adminHandlers(deps: AppDeps): Record<string, Handler> {
  const act = (actor: string, action: string, data: Record<string, unknown>) =>
    deps.audit.append({ type: 'admin', actor, outcome: 'ok', data: { action, ...data } });

  return {
    adminListPolicies: async (req) => {
      authorize(req, deps.tokens, 'auditor');
      return policiesOut(deps.policies.current());
    },
    adminReloadPolicies: async (req) => {
      const who = authorize(req, deps.tokens, 'admin');
      let set: PolicySet;
      try {
        set = await deps.policies.reload();
      } catch (e) {
        deps.audit.append({ type: 'admin', actor: who.id, outcome: 'failed', data: { action: 'policies.reload' } });
        throw new ApiError('policy_load_failed', `policies not reloaded, the previous set stays in force: ${(e as Error).message}`.slice(0, 2000));
      }
      act(who.id, 'policies.reload', { policySetHash: set.hash, count: set.policies.length });
      return policiesOut(set);
    },
    adminListSecrets: async (req) => {
      authorize(req, deps.tokens, 'auditor');
      return { secrets: deps.secrets.list().map(metaOut) };
    },
    adminCreateSecret: async (req, reply) => {
      const who = authorize(req, deps.tokens, 'admin');
      const body = req.body as { name: string; kind?: 'sefs-key' | 'bytes'; value?: string };
      const value = body.value === undefined ? undefined : decodeBase64Strict(body.value, 'value');
      let meta: SecretMetaLike;
      try {
        meta = deps.secrets.create(body.name, body.kind ?? 'sefs-key', value);
      } catch (e) {
        storeError(e);
      }
      act(who.id, 'secret.create', { name: meta.name, kind: meta.kind, version: meta.version });
      reply.code(201);
      return metaOut(meta);
    },
    adminRotateSecret: async (req) => {
      const who = authorize(req, deps.tokens, 'admin');
      const { name } = req.params as { name: string };
      const body = (req.body ?? {}) as { value?: string };
      const value = body.value === undefined ? undefined : decodeBase64Strict(body.value, 'value');
      let meta: SecretMetaLike;
      try {
        meta = deps.secrets.rotate(name, value);
      } catch (e) {
        storeError(e);
      }
      act(who.id, 'secret.rotate', { name: meta.name, version: meta.version });
      return metaOut(meta);
    },
    adminDeleteSecret: async (req) => {
      const who = authorize(req, deps.tokens, 'admin');
      const { name } = req.params as { name: string };
      let deleted: boolean;
      try {
        deleted = deps.secrets.delete(name);
      } catch (e) {
        storeError(e);
      }
      if (!deleted) throw new ApiError('secret_not_found', `no secret named ${name}`);
      act(who.id, 'secret.delete', { name });
      return { deleted: true };
    },
    adminAuditList: async (req) => {
      authorize(req, deps.tokens, 'auditor');
      const q = req.query as { limit?: number; afterId?: number; type?: string };
      const opts: { limit?: number; afterId?: number; type?: string } = { limit: q.limit ?? 100 };
      if (q.afterId !== undefined) opts.afterId = q.afterId;
      if (q.type !== undefined) opts.type = q.type;
      return { entries: deps.audit.list(opts).map(entryOut) };
    },
    adminAuditVerify: async (req) => {
      authorize(req, deps.tokens, 'auditor');
      return deps.audit.verify();
    },
    adminDecisions: async (req) => {
      authorize(req, deps.tokens, 'auditor');
      const { limit = 50 } = req.query as { limit?: number };
      return { entries: deps.audit.recent(limit, 'attestation').map(entryOut) };
    },
  };
}
