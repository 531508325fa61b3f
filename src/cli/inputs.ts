// Reading the CLI's input files: quotes (binary, hex or base64), collateral JSON, root certificates.
import { readFileSync } from 'node:fs';
import { parseCollateralJson } from '../dcap/collateral-json.ts';
import type { Collateral } from '../dcap/types.ts';
import { UsageError } from './io.ts';

export function readInputFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what} file '${path}': ${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}`);
  }
}

/** A quote file holds the raw bytes, or their hex or base64 text (detected). */
export function decodeQuoteBytes(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1').trim();
  if (text.length > 0 && /^(0x)?[0-9a-fA-F\s]+$/.test(text)) {
    const hex = text.replace(/^0x/, '').replace(/\s+/g, '');
    if (hex.length % 2 === 0) return Buffer.from(hex, 'hex');
  }
  if (text.length > 0 && /^[A-Za-z0-9+/=_\-\s]+$/.test(text)) {
    const b64 = text.replace(/\s+/g, '');
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(b64) && b64.length % 4 === 0) return Buffer.from(b64, 'base64');
    if (/^[A-Za-z0-9_-]+$/.test(b64)) return Buffer.from(b64, 'base64url');
  }
  return bytes;
}

export function readQuoteFile(path: string): Buffer {
  return decodeQuoteBytes(readInputFile(path, 'quote'));
}

/** Throws VerificationError('malformed_collateral') for bad content, UsageError for a missing file. */
export function readCollateralFile(path: string): Collateral {
  return parseCollateralJson(readInputFile(path, 'collateral').toString('utf8'));
}

export function readRootCa(path: string): Buffer {
  return readInputFile(path, 'root CA');
}

export function parseAt(value: string | undefined): Date {
  if (value === undefined) return new Date();
  // A time without a zone is UTC (as Intel's collateral dates are), never the host's local time.
  const local = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/.exec(value);
  const d = new Date(local ? `${local[1]}T${local[2]}Z` : value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) throw new UsageError(`--at '${value}' is not an ISO 8601 time`);
  return d;
}
