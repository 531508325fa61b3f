// Signed JSON collateral: the signature covers the exact bytes of an inner object as served,
// so the object is sliced out of the body, never re-serialised.
import { fail } from './errors.ts';

function skipWs(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\r' || s[i] === '\t')) i++;
  return i;
}

function skipString(s: string, i: number): number {
  // s[i] === '"'
  i++;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  throw new SyntaxError('unterminated string');
}

function skipValue(s: string, i: number): number {
  if (s[i] === '"') return skipString(s, i);
  if (s[i] === '{' || s[i] === '[') {
    let depth = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '"') {
        i = skipString(s, i);
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new SyntaxError('unbalanced JSON');
  }
  while (i < s.length && !/[,}\]\s]/.test(s[i]!)) i++;
  return i;
}

/** The exact text of each top-level member's value of a JSON object. */
export function topLevelMembers(text: string): Map<string, string> {
  JSON.parse(text); // validates; the slicing below then only has to find boundaries
  const out = new Map<string, string>();
  let i = skipWs(text, 0);
  if (text[i] !== '{') throw new SyntaxError('not a JSON object');
  i = skipWs(text, i + 1);
  if (text[i] === '}') return out;
  for (;;) {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueEnd = skipValue(text, i);
    out.set(key, text.slice(i, valueEnd));
    i = skipWs(text, valueEnd);
    if (text[i] === ',') i = skipWs(text, i + 1);
    else break;
  }
  return out;
}

/**
 * The one signed-body splitter. Accepts either the signed object's own text, or a whole PCS response body
 * (`{"tcbInfo":{...},"signature":"..."}`), and returns the signed text (sliced, never re-serialised) and
 * the signature if present.
 */
export function splitSignedBody(text: string, member: 'tcbInfo' | 'enclaveIdentity'): { signed: string; signature: string | null } {
  let members: Map<string, string>;
  try {
    members = topLevelMembers(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    fail('malformed_collateral', `${member} is not valid JSON: ${e.message}`);
  }
  const inner = members.get(member);
  if (inner === undefined) return { signed: text, signature: null };
  const sig = members.get('signature');
  const signature = sig === undefined ? null : (JSON.parse(sig) as unknown);
  if (signature !== null && typeof signature !== 'string') fail('malformed_collateral', `${member} response signature is not a string`);
  return { signed: inner, signature };
}

/** A signature over signed JSON: 64 bytes (r||s) as 128 hex digits. */
export function signatureHexField(value: unknown, what: string): Buffer {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{128}$/.test(value)) fail('malformed_collateral', `${what} must be 64 bytes of hex (r||s)`);
  return Buffer.from(value, 'hex');
}

export function parseDate(value: unknown, what: string): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) fail('malformed_collateral', `${what} is not an ISO 8601 date`);
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) fail('malformed_collateral', `${what} is not a valid date`);
  return d;
}

export function hexField(value: unknown, bytes: number, what: string): Buffer {
  if (typeof value !== 'string' || value.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(value)) fail('malformed_collateral', `${what} must be ${bytes} bytes of hex`);
  return Buffer.from(value, 'hex');
}

export function intField(value: unknown, what: string, max = 0xffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) fail('malformed_collateral', `${what} must be an integer from 0 to ${max}`);
  return value;
}

export function objectField(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('malformed_collateral', `${what} must be an object`);
  return value as Record<string, unknown>;
}

export function advisoryIdsField(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail('malformed_collateral', `${what} must be a list of strings`);
  return value as string[];
}
