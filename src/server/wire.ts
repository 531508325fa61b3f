// Exact byte rules of the v1 wire format, shared by the server and its tests.
import crypto from 'node:crypto';
import { ApiError } from './errors.ts';

export const BINDING_LABEL = Buffer.from('warden/v1', 'ascii');

/** Standard base64 with padding, canonical only (RFC 4648 §4): anything else is a 400. */
export function decodeBase64Strict(text: string, field: string, expectedLength?: number): Buffer {
  const buf = Buffer.from(text, 'base64');
  if (text.length % 4 !== 0 || buf.toString('base64') !== text) {
    throw new ApiError('bad_request', `${field} is not canonical standard base64 with padding`);
  }
  if (expectedLength !== undefined && buf.length !== expectedLength) {
    throw new ApiError('bad_request', `${field} must be ${expectedLength} bytes, got ${buf.length}`);
  }
  return buf;
}

/** Report data an enclave must put in its quote: SHA-256("warden/v1" ‖ nonce ‖ pkE) ‖ 32 zero bytes. */
export function expectedReportData(nonce: Buffer, publicKey: Buffer): Buffer {
  const h = crypto.createHash('sha256').update(BINDING_LABEL).update(nonce).update(publicKey).digest();
  return Buffer.concat([h, Buffer.alloc(32)]);
}

/** Constant-time comparison of the quote's report data with the expected binding. */
export function bindsNonceAndKey(reportData: Buffer, nonce: Buffer, publicKey: Buffer): boolean {
  const want = expectedReportData(nonce, publicKey);
  return reportData.length === want.length && crypto.timingSafeEqual(reportData, want);
}
