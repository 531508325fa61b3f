// The master key that encrypts secrets and server keys at rest. It comes from a file or an environment
// variable, never from the database; in development mode one is generated on first start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WardenError } from '../protocol/errors.ts';

/** The master key is missing or unreadable (`master_key_missing`) or not 32 bytes (`master_key_invalid`). */
export class MasterKeyError extends WardenError<'master_key_missing' | 'master_key_invalid'> {
  override name = 'MasterKeyError';
}

/** Accepts 32 raw bytes, 64 hex characters, or base64 of 32 bytes (surrounding whitespace ignored). */
export function parseMasterKey(raw: Buffer, source: string): Buffer {
  if (raw.length === 32) return Buffer.from(raw);
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text) || /^[A-Za-z0-9_-]{43}$/.test(text)) {
    const b = Buffer.from(text, text.includes('+') || text.includes('/') || text.endsWith('=') ? 'base64' : 'base64url');
    if (b.length === 32) return b;
  }
  throw new MasterKeyError('master_key_invalid', `master key from ${source} is not 32 bytes (give 64 hex characters or base64 of 32 bytes)`);
}

export function generateMasterKeyFile(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  // 'wx': never overwrite an existing key, which would make the database unreadable.
  fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
}

export function loadMasterKey(opts: {
  file?: string;
  env?: string;
  dev: boolean;
  dataDir: string;
  warn: (msg: string) => void;
}): Buffer {
  if (opts.file) {
    let raw: Buffer;
    try {
      raw = fs.readFileSync(opts.file);
    } catch (e) {
      throw new MasterKeyError('master_key_missing', `cannot read master key file ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const mode = fs.statSync(opts.file).mode;
    if ((mode & 0o077) !== 0) opts.warn(`warning: master key file ${opts.file} is readable by other users; chmod 600 it`);
    return parseMasterKey(raw, `file ${opts.file}`);
  }
  if (opts.env) {
    const v = process.env[opts.env];
    if (v === undefined || v === '') throw new MasterKeyError('master_key_missing', `environment variable ${opts.env} is not set`);
    return parseMasterKey(Buffer.from(v, 'utf8'), `environment variable ${opts.env}`);
  }
  if (opts.dev) {
    const file = path.join(opts.dataDir, 'master.key');
    if (!fs.existsSync(file)) {
      generateMasterKeyFile(file);
      opts.warn(
        [
          '!!! ================================================================== !!!',
          `!!! DEVELOPMENT MODE: generated a master key in ${file}`,
          '!!! It sits next to the database it protects. Do not use it in production:',
          '!!! pass --master-key-file FILE or --master-key-env VAR instead.',
          '!!! ================================================================== !!!',
        ].join('\n'),
      );
    }
    return parseMasterKey(fs.readFileSync(file), `file ${file}`);
  }
  throw new MasterKeyError(
    'master_key_missing',
    'no master key: pass --master-key-file FILE or --master-key-env VAR (or --dev to generate a development key)',
  );
}
