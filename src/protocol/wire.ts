// Exact byte rules of the v1 wire format: canonical base64 and the report-data binding. The enclave side
// (occlum-image/init) implements the same; test/vectors/protocol-v1.json pins both.
import crypto from 'node:crypto';
import { WardenError } from './errors.ts';

export const BINDING_LABEL = Buffer.from('warden/v1', 'ascii');

/** Standard base64 with padding, canonical only (RFC 4648 §4): anything else is a 400. */
export function decodeBase64Strict(text: string, field: string, expectedLength?: number): Buffer {
  const buf = Buffer.from(text, 'base64');
  if (text.length % 4 !== 0 || buf.toString('base64') !== text) {
    throw new WardenError('bad_request', `${field} is not canonical standard base64 with padding`);
  }
  if (expectedLength !== undefined && buf.length !== expectedLength) {
    throw new WardenError('bad_request', `${field} must be ${expectedLength} bytes, got ${buf.length}`);
  }
  return buf;
}

/** The quote's report data binds the challenge and the enclave's key: SHA-256("warden/v1" ‖ nonce ‖ pkE) ‖ 32 zero bytes. */
export function expectedReportData(nonce: Buffer, publicKey: Buffer): Buffer {
  const h = crypto.createHash('sha256').update(BINDING_LABEL).update(nonce).update(publicKey).digest();
  return Buffer.concat([h, Buffer.alloc(32)]);
}

/** Constant-time comparison of the quote's report data with the expected binding. */
export function bindsNonceAndKey(reportData: Buffer, nonce: Buffer, publicKey: Buffer): boolean {
  const want = expectedReportData(nonce, publicKey);
  return reportData.length === want.length && crypto.timingSafeEqual(reportData, want);
}
