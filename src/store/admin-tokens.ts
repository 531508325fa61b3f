// Admin API bearer tokens. Only SHA-256 hashes are stored; verification compares in constant time.
import crypto from 'node:crypto';
import type { Engine } from './engine.ts';
import { StoreError } from './errors.ts';

export type AdminRole = 'admin' | 'auditor';

export interface AdminTokenInfo {
  id: string;
  role: AdminRole;
  label?: string;
  createdAt: string;
  revokedAt?: string;
}

// wdn_<16 hex id>_<43 base64url chars = 32 random bytes>
const TOKEN_RE = /^wdn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function hashToken(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest();
}

interface Row {
  id: string;
  role: AdminRole;
  label: string | null;
  hash: Buffer;
  created_at: string;
  revoked_at: string | null;
}

export class AdminTokens {
  constructor(
    private readonly engine: Engine,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(role: AdminRole, label?: string): Promise<{ id: string; token: string }> {
    if (role !== 'admin' && role !== 'auditor') throw new StoreError('invalid_role');
    const id = crypto.randomBytes(8).toString('hex');
    const token = `wdn_${id}_${crypto.randomBytes(32).toString('base64url')}`;
    await this.engine.run(`INSERT INTO admin_tokens (id, role, label, hash, created_at) VALUES (?, ?, ?, ?, ?)`, [
      id,
      role,
      label ?? null,
      hashToken(token),
      this.now().toISOString(),
    ]);
    return { id, token };
  }

  async verify(token: string): Promise<{ id: string; role: AdminRole } | null> {
    if (typeof token !== 'string' || token.length > 200) return null;
    const m = TOKEN_RE.exec(token);
    const row = m ? await this.engine.get<Row>(`SELECT * FROM admin_tokens WHERE id = ?`, [m[1]!]) : undefined;
    // Hash and compare even when there is no row, so timing does not reveal which ids exist.
    const expected = row?.hash ?? Buffer.alloc(32);
    const ok = crypto.timingSafeEqual(hashToken(token), expected);
    if (!ok || !row || row.revoked_at !== null) return null;
    return { id: row.id, role: row.role };
  }

  async list(): Promise<AdminTokenInfo[]> {
    const rows = await this.engine.all<Row>(`SELECT * FROM admin_tokens ORDER BY created_at, id`);
    return rows.map((r) => {
      const t: AdminTokenInfo = { id: r.id, role: r.role, createdAt: r.created_at };
      if (r.label !== null) t.label = r.label;
      if (r.revoked_at !== null) t.revokedAt = r.revoked_at;
      return t;
    });
  }

  /** Revokes a token; false when it was already revoked. Throws token_not_found for an unknown id. */
  async revoke(id: string): Promise<boolean> {
    const row = await this.engine.get<{ revoked_at: string | null }>(`SELECT revoked_at FROM admin_tokens WHERE id = ?`, [id]);
    if (!row) throw new StoreError('token_not_found', `no admin token with id '${id}'`);
    if (row.revoked_at !== null) return false;
    return (await this.engine.run(`UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, [this.now().toISOString(), id])).changes === 1;
  }
}
