// Bearer-token authentication of the admin API: auditors read, admins read and write.
import type { FastifyRequest } from 'fastify';
import type { AdminTokensLike } from './deps.ts';
import { ApiError } from './errors.ts';

export type Role = 'admin' | 'auditor';

/** The caller's token id and role; throws 401 without a valid token, 403 when the role may not act. */
export async function authorize(req: FastifyRequest, tokens: AdminTokensLike, need: Role): Promise<{ id: string; role: Role }> {
  const h = req.headers.authorization;
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  const m = typeof h === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/i.exec(h) : null;
  const who = m?.[1] ? await tokens.verify(m[1]) : null;
  if (!who) throw new ApiError('unauthorized', 'a valid admin bearer token is required');
  if (need === 'admin' && who.role !== 'admin') throw new ApiError('forbidden', `role ${who.role} may not do this; an admin token is required`);
  return who;
}
