// Audit retention: old entries leave the live store as a verifiable segment file, and the live chain
// continues from a checkpoint (issue #14, finding 3).
//
// A segment is JSON Lines: a header line, one line per entry exactly as stored (its data as the stored
// canonical JSON text, so every hash can be recomputed), and an anchor line: an ES256 JWS, by the
// server's current token key, over the range, its first previous hash, its last hash and the SHA-256
// of the entry lines. The file is written and synced before anything is removed; the removal, the new
// checkpoint and an audit entry recording the archive commit in one transaction under the audit lock.
// `verifyArchives` checks each segment and that the segments given link from the start of the chain to
// the live store's checkpoint: a gap anywhere is an error, never silence.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { importP256Point } from '../crypto/p256.ts';
import { jwksFromKeys, signJwtEs256, verifyJwtEs256, type Jwks } from '../secrets/jwt.ts';
import { GENESIS, checkRow, type AuditLog, type AuditRow as Row } from './audit.ts';
import type { Engine } from './engine.ts';
import { StoreError } from './errors.ts';

export const SEGMENT_FORMAT = 'warden-audit-segment/1';
const ANCHOR_TYP = 'warden-audit-anchor';
const CHUNK = 1000;

/** What the anchor signs. */
export interface SegmentAnchor {
  typ: typeof ANCHOR_TYP;
  firstId: number;
  lastId: number;
  count: number;
  /** The hash before the first entry (GENESIS for the first segment). */
  prevHash: string;
  lastHash: string;
  /** SHA-256 of the entry lines, each with its newline. */
  entriesSha256: string;
  /** Entries before this time were archived. */
  before: string;
  archivedAt: string;
}

export interface ArchiveResult {
  count: number;
  firstId?: number;
  lastId?: number;
  sha256?: string;
}

function rowLine(r: Row): string {
  return JSON.stringify({ id: Number(r.id), ts: r.ts, type: r.type, actor: r.actor, outcome: r.outcome, data: r.data, prevHash: r.prev_hash, hash: r.hash }) + '\n';
}

function invalid(message: string): StoreError {
  return new StoreError('audit_archive_invalid', message);
}

/**
 * Moves the live entries older than `before` (a prefix of the live chain) into a segment at `out`.
 * Refuses to archive a live chain that does not verify. Returns how many entries left the store.
 */
export async function archiveAudit(
  engine: Engine,
  audit: AuditLog,
  opts: { before: Date; out: string; signer: { kid: string; privateKey: crypto.KeyObject }; actor: string; now?: () => Date },
): Promise<ArchiveResult> {
  const now = opts.now ?? (() => new Date());
  const before = opts.before.toISOString();
  const cp = await audit.checkpoint();
  const start = cp?.id ?? 0;
  let prev = cp?.hash ?? GENESIS;
  const firstPrev = prev;
  const partial = `${opts.out}.partial`;
  const fd = fs.openSync(partial, 'w', 0o600);
  const digest = crypto.createHash('sha256');
  let count = 0;
  let lastId = start;
  try {
    fs.writeSync(fd, JSON.stringify({ format: SEGMENT_FORMAT }) + '\n');
    scan: for (;;) {
      const rows = await engine.all<Row>(`SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?`, [lastId, CHUNK]);
      for (const r of rows) {
        if (r.ts >= before) break scan;
        const id = Number(r.id);
        if (id !== lastId + 1) throw invalid(`the live chain is missing entries ${lastId + 1}..${id - 1}: run 'warden audit verify'; nothing was archived`);
        const bad = checkRow(r, prev);
        if (bad) throw invalid(`the live chain does not verify at entry ${id} (${bad}); nothing was archived`);
        const line = rowLine(r);
        digest.update(line);
        fs.writeSync(fd, line);
        prev = r.hash;
        lastId = id;
        count++;
      }
      if (rows.length < CHUNK) break;
    }
    if (count === 0) {
      fs.closeSync(fd);
      fs.rmSync(partial, { force: true });
      return { count: 0 };
    }
    const anchor: SegmentAnchor = {
      typ: ANCHOR_TYP,
      firstId: start + 1,
      lastId,
      count,
      prevHash: firstPrev,
      lastHash: prev,
      entriesSha256: digest.digest('hex'),
      before,
      archivedAt: now().toISOString(),
    };
    fs.writeSync(fd, JSON.stringify({ anchor: signJwtEs256(anchor, opts.signer) }) + '\n');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(partial, { force: true });
    throw e;
  }
  fs.renameSync(partial, opts.out);
  syncDir(path.dirname(path.resolve(opts.out)));
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(opts.out)).digest('hex');

  // Only now, with the segment safely on disk, do the entries leave the store.
  await engine.tx(async (q) => {
    const again = await audit.checkpoint(q);
    if ((again?.id ?? 0) !== start) throw invalid('another archive ran at the same time; nothing was removed (run again)');
    const { changes } = await q.run(`DELETE FROM audit WHERE id > ? AND id <= ?`, [start, lastId]);
    if (changes !== count) throw invalid(`expected to remove ${count} entries, found ${changes}; nothing was removed`);
    const checkpoint = { id: lastId, hash: prev, archivedAt: now().toISOString() };
    await q.run(`INSERT INTO meta (key, value) VALUES ('audit_checkpoint', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [JSON.stringify(checkpoint)]);
    await audit.appendWithin(q, {
      type: 'admin',
      actor: opts.actor,
      outcome: 'ok',
      data: { action: 'audit.archive', firstId: start + 1, lastId, count, before, file: path.basename(opts.out), sha256 },
    });
  }, { lock: 'audit' });
  return { count, firstId: start + 1, lastId, sha256 };
}

function syncDir(dir: string): void {
  try {
    const d = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // not supported on every file system; the file itself was synced
  }
}

/** Every token public key the store ever had (retired ones stay): what an anchor may be signed by. */
async function tokenJwks(engine: Engine): Promise<Jwks> {
  const rows = await engine.all<{ kid: string; public_key: Buffer }>(`SELECT kid, public_key FROM server_keys WHERE purpose = 'token'`);
  return jwksFromKeys(rows.map((r) => ({ kid: r.kid, publicKey: importP256Point(Buffer.from(r.public_key)) })));
}

interface CheckedSegment {
  file: string;
  anchor: SegmentAnchor;
}

async function checkSegment(file: string, jwks: Jwks): Promise<CheckedSegment> {
  const where = path.basename(file);
  let stream: fs.ReadStream;
  try {
    fs.accessSync(file, fs.constants.R_OK);
    stream = fs.createReadStream(file, { encoding: 'utf8' });
  } catch {
    throw invalid(`${where}: cannot be read`);
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  const digest = crypto.createHash('sha256');
  let header = false;
  let anchorJws: string | null = null;
  let first: Row | null = null;
  let prev: Row | null = null;
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (anchorJws !== null) throw invalid(`${where}: line ${n} follows the anchor`);
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw invalid(`${where}: line ${n} is not JSON`);
      }
      if (!header) {
        if (v?.['format'] !== SEGMENT_FORMAT) throw invalid(`${where}: not a Warden audit segment (${SEGMENT_FORMAT})`);
        header = true;
        continue;
      }
      if (typeof v?.['anchor'] === 'string') {
        anchorJws = v['anchor'];
        continue;
      }
      const r: Row = { id: v['id'] as number, ts: v['ts'] as string, type: v['type'] as string, actor: v['actor'] as string | null, outcome: v['outcome'] as string | null, data: v['data'] as string, prev_hash: v['prevHash'] as string, hash: v['hash'] as string };
      if (!Number.isSafeInteger(r.id) || typeof r.data !== 'string' || typeof r.hash !== 'string' || typeof r.prev_hash !== 'string' || typeof r.ts !== 'string' || typeof r.type !== 'string') {
        throw invalid(`${where}: line ${n} is not an audit entry`);
      }
      if (prev) {
        if (r.id !== prev.id + 1) throw invalid(`${where}: entries ${prev.id + 1}..${r.id - 1} are missing`);
        const bad = checkRow(r, prev.hash);
        if (bad) throw invalid(`${where}: entry ${r.id}: ${bad}`);
      }
      digest.update(line + '\n');
      first ??= r;
      prev = r;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  if (!header) throw invalid(`${where}: empty`);
  if (anchorJws === null) throw invalid(`${where}: no anchor (truncated)`);
  let anchor: SegmentAnchor;
  try {
    anchor = verifyJwtEs256(anchorJws, jwks).claims as unknown as SegmentAnchor;
  } catch (e) {
    throw invalid(`${where}: the anchor does not verify with any token key of this server (${(e as Error).message})`);
  }
  if (anchor.typ !== ANCHOR_TYP) throw invalid(`${where}: the anchor is not an audit anchor`);
  if (!first || !prev) throw invalid(`${where}: no entries`);
  const bad = checkRow(first, anchor.prevHash);
  if (bad) throw invalid(`${where}: entry ${first.id}: ${bad}`);
  if (first.id !== anchor.firstId || prev.id !== anchor.lastId || prev.hash !== anchor.lastHash || anchor.count !== prev.id - first.id + 1) {
    throw invalid(`${where}: the entries are not the range its anchor signs (entries removed or added)`);
  }
  if (digest.digest('hex') !== anchor.entriesSha256) throw invalid(`${where}: the entries differ from what the anchor signs`);
  return { file, anchor };
}

export type ArchiveVerifyResult =
  | { ok: true; segments: Array<{ file: string; firstId: number; lastId: number; count: number }>; through: number }
  | { ok: false; reason: string };

/**
 * Checks archived segments: each one whole and signed by a token key of this server, and all of them
 * together linking from the first entry ever to the live store's checkpoint.
 */
export async function verifyArchives(engine: Engine, audit: AuditLog, files: readonly string[]): Promise<ArchiveVerifyResult> {
  try {
    const jwks = await tokenJwks(engine);
    const segs: CheckedSegment[] = [];
    for (const f of files) segs.push(await checkSegment(f, jwks));
    segs.sort((a, b) => a.anchor.firstId - b.anchor.firstId);
    let id = 0;
    let hash = GENESIS;
    for (const s of segs) {
      const a = s.anchor;
      if (a.firstId !== id + 1) {
        throw invalid(a.firstId > id + 1 ? `entries ${id + 1}..${a.firstId - 1} are in none of the segments given` : `${path.basename(s.file)} overlaps the segment before it`);
      }
      if (a.prevHash !== hash) throw invalid(`${path.basename(s.file)} does not link to the entry before it`);
      id = a.lastId;
      hash = a.lastHash;
    }
    const cp = await audit.checkpoint();
    if (!cp) throw invalid('this database has no archived entries (no checkpoint)');
    if (id !== cp.id) throw invalid(id < cp.id ? `entries ${id + 1}..${cp.id} were archived but are in none of the segments given` : `the segments go past the live checkpoint (${cp.id})`);
    if (hash !== cp.hash) throw invalid('the last segment does not link to the live checkpoint');
    return { ok: true, segments: segs.map((s) => ({ file: s.file, firstId: s.anchor.firstId, lastId: s.anchor.lastId, count: s.anchor.count })), through: id };
  } catch (e) {
    if (e instanceof StoreError && e.code === 'audit_archive_invalid') return { ok: false, reason: e.message };
    throw e;
  }
}
