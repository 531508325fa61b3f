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

/** A private key file that other users can read (or write), refused unless explicitly allowed. */
export class KeyFileError extends WardenError<'key_file_insecure'> {
  override name = 'KeyFileError';
}

/** The flag that accepts a key file other users can access (a shared group, a read-only mount). */
export const ALLOW_INSECURE_KEY_PERMISSIONS = '--allow-insecure-key-permissions';

/**
 * Refuses a private key file that its group or other users may access (any of mode 0o077), unless the
 * operator said so with --allow-insecure-key-permissions: then it is a warning. A key that others
 * could read protects nothing, and saying so at start-up is cheaper than finding out later.
 */
export function checkKeyFileMode(file: string, what: string, o: { allowInsecure: boolean; warn: (msg: string) => void }): void {
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    return; // reading it fails next, with its own message
  }
  if ((mode & 0o077) === 0) return;
  const octal = `0${mode.toString(8)}`;
  if (o.allowInsecure) {
    o.warn(`warning: ${what} ${file} is accessible to other users (mode ${octal}); accepted because of ${ALLOW_INSECURE_KEY_PERMISSIONS}`);
    return;
  }
  throw new KeyFileError(
    'key_file_insecure',
    `${what} ${file} is accessible to other users (mode ${octal}): run 'chmod 600 ${file}', or pass ${ALLOW_INSECURE_KEY_PERMISSIONS} to accept it`,
  );
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
  /** In dev mode, generate the key when it is missing (false: a missing key is an error). Default true. */
  createDevKey?: boolean;
  dataDir: string;
  warn: (msg: string) => void;
  /** Accept a master key file other users can read (a warning instead of a refusal). */
  allowInsecurePermissions?: boolean;
}): Buffer {
  if (opts.file) {
    checkKeyFileMode(opts.file, 'master key file', { allowInsecure: opts.allowInsecurePermissions === true, warn: opts.warn });
    let raw: Buffer;
    try {
      raw = fs.readFileSync(opts.file);
    } catch (e) {
      throw new MasterKeyError('master_key_missing', `cannot read master key file ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
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
      if (opts.createDevKey === false) {
        throw new MasterKeyError('master_key_missing', `no development master key in ${file} (\`warden serve --dev\` makes one on its first start)`);
      }
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
