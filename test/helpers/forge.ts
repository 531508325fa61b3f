// Forged collateral for the cache tests: contents changed, the genuine signature bytes kept.
import assert from 'node:assert/strict';

/** The same DER with `from` replaced by `to` (same length), so that the signature bytes stay as they were. */
export function splice(der: Buffer, from: Buffer, to: Buffer): Buffer {
  assert.equal(from.length, to.length);
  const i = der.indexOf(from);
  assert.ok(i > 0, 'pattern not found in the CRL');
  assert.equal(der.indexOf(from, i + 1), -1, 'pattern occurs twice in the CRL');
  return Buffer.concat([der.subarray(0, i), to, der.subarray(i + from.length)]);
}

/** Drops a revoked serial from the list by changing its last byte (the entry no longer matches the leaf). */
export function unrevoke(der: Buffer, serialHex: string): Buffer {
  const serial = Buffer.from(serialHex.replace(/^(00)+/, ''), 'hex');
  const other = Buffer.from(serial);
  other[other.length - 1]! ^= 0x01;
  return splice(der, serial, other);
}

/** Moves a CRL's nextUpdate ten years on (UTCTime YYMMDDHHMMSSZ: the year's tens digit + 1). */
export function pushNextUpdate(der: Buffer, nextUpdate: Date): Buffer {
  const utc = (d: Date) => Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z', 'latin1');
  const from = utc(nextUpdate);
  const to = Buffer.from(from);
  to[0] = to[0]! + 1;
  return splice(der, from, to);
}
