// SGX REPORT body (384 bytes), laid out as in linux-sgx sgx_report.h (integers little-endian).
import { createHash } from 'node:crypto';

export const REPORT_BODY_SIZE = 384;

export const FLAG_INITTED = 0x01n;
export const FLAG_DEBUG = 0x02n;
export const FLAG_MODE64BIT = 0x04n;
export const FLAG_PROVISIONKEY = 0x10n;
export const FLAG_KSS = 0x80n;

export interface ReportFields {
  cpuSvn?: Buffer; // 16
  miscSelect?: number;
  isvExtProdId?: Buffer; // 16
  /** FLAGS (u64); `debug` then sets or clears bit 1. */
  flags?: bigint;
  xfrm?: bigint;
  debug?: boolean;
  /** All 16 attribute bytes at once (wins over flags/xfrm/debug). */
  attributes?: Buffer;
  mrEnclave?: Buffer; // 32
  mrSigner?: Buffer; // 32
  configId?: Buffer; // 64
  isvProdId?: number;
  isvSvn?: number;
  configSvn?: number;
  isvFamilyId?: Buffer; // 16
  reportData?: Buffer; // up to 64, zero-padded
}

/** Default identity of a sim application enclave: production (FLAGS 0x05, XFRM 0xe7), deterministic measurements. */
export const SIM_ENCLAVE = {
  mrEnclave: createHash('sha256').update('warden-sim enclave').digest(),
  mrSigner: createHash('sha256').update('warden-sim signer').digest(),
  flags: FLAG_INITTED | FLAG_MODE64BIT,
  xfrm: 0xe7n,
} as const;

function put(buf: Buffer, off: number, len: number, v: Buffer | undefined, what: string): void {
  if (v === undefined) return;
  if (v.length > len) throw new Error(`${what} is longer than ${len} bytes`);
  v.copy(buf, off);
}

export function encodeReportBody(f: ReportFields): Buffer {
  const b = Buffer.alloc(REPORT_BODY_SIZE);
  put(b, 0, 16, f.cpuSvn, 'CPUSVN');
  b.writeUInt32LE(f.miscSelect ?? 0, 16);
  put(b, 32, 16, f.isvExtProdId, 'ISVEXTPRODID');
  if (f.attributes) {
    put(b, 48, 16, f.attributes, 'ATTRIBUTES');
  } else {
    let flags = f.flags ?? 0n;
    if (f.debug === true) flags |= FLAG_DEBUG;
    if (f.debug === false) flags &= ~FLAG_DEBUG;
    b.writeBigUInt64LE(flags, 48);
    b.writeBigUInt64LE(f.xfrm ?? 0n, 56);
  }
  put(b, 64, 32, f.mrEnclave, 'MRENCLAVE');
  put(b, 128, 32, f.mrSigner, 'MRSIGNER');
  put(b, 192, 64, f.configId, 'CONFIGID');
  b.writeUInt16LE(f.isvProdId ?? 0, 256);
  b.writeUInt16LE(f.isvSvn ?? 0, 258);
  b.writeUInt16LE(f.configSvn ?? 0, 260);
  put(b, 304, 16, f.isvFamilyId, 'ISVFAMILYID');
  put(b, 320, 64, f.reportData, 'REPORTDATA');
  return b;
}
