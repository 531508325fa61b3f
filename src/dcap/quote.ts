// Parsing of DCAP quotes: SGX v3, v4 and v5; TDX v4 (TD report 1.0) and v5 (TD report 1.0 or 1.5), as
// Intel's QVL reads them (QuoteVerification/Quote.cpp parse and validate). Every read is bounds-checked;
// every declared length must agree with what it contains.
import { fail } from './errors.ts';
import type { CertificationData, Quote, QuoteHeader, QuoteSignatureData, ReportBody, TdReport } from './types.ts';

export const INTEL_QE_VENDOR_ID = Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex');
export const HEADER_SIZE = 48;
export const REPORT_BODY_SIZE = 384;
const ATTESTATION_KEY_TYPE_ECDSA_P256 = 2;
const TEE_SGX = 0x00000000;
const TEE_TDX = 0x00000081;
const CERT_DATA_QE_REPORT = 6;
const CERT_DATA_PCK_CHAIN = 5;
const MAX_KNOWN_CERT_TYPE = 7;
const V5_BODY_SGX = 1;
const V5_BODY_TD10 = 2;
const V5_BODY_TD15 = 3;
export const TD_REPORT10_SIZE = 584;
export const TD_REPORT15_SIZE = 648;

/** Cursor over untrusted bytes: every read checks it stays inside [pos, limit). */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly limit: number,
    private readonly what: string,
  ) {}
  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.limit) fail('malformed_quote', `quote truncated: ${field} needs ${n} bytes at offset ${this.pos}, ${this.what} ends at ${this.limit}`);
  }
  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  get remaining(): number {
    return this.limit - this.pos;
  }
}

export function parseReportBody(raw: Buffer): ReportBody {
  if (raw.length !== REPORT_BODY_SIZE) fail('malformed_quote', `report body must be ${REPORT_BODY_SIZE} bytes`);
  const flags = raw.readBigUInt64LE(48);
  return {
    raw,
    cpuSvn: raw.subarray(0, 16),
    miscSelect: raw.readUInt32LE(16),
    isvExtProdId: raw.subarray(32, 48),
    attributes: raw.subarray(48, 64),
    flags,
    xfrm: raw.readBigUInt64LE(56),
    debug: (flags & 2n) !== 0n,
    mrEnclave: raw.subarray(64, 96),
    mrSigner: raw.subarray(128, 160),
    configId: raw.subarray(192, 256),
    isvProdId: raw.readUInt16LE(256),
    isvSvn: raw.readUInt16LE(258),
    configSvn: raw.readUInt16LE(260),
    isvFamilyId: raw.subarray(304, 320),
    reportData: raw.subarray(320, 384),
  };
}

/** A TD report 1.0 (584 bytes) or 1.5 (648 bytes), offsets of Intel's TDReport10/TDReport15. */
export function parseTdReport(raw: Buffer): TdReport {
  if (raw.length !== TD_REPORT10_SIZE && raw.length !== TD_REPORT15_SIZE) fail('malformed_quote', `TD report must be ${TD_REPORT10_SIZE} or ${TD_REPORT15_SIZE} bytes`);
  const tdAttributes = raw.subarray(120, 128);
  const report: TdReport = {
    raw,
    version: raw.length === TD_REPORT15_SIZE ? '1.5' : '1.0',
    teeTcbSvn: raw.subarray(0, 16),
    mrSeam: raw.subarray(16, 64),
    mrSignerSeam: raw.subarray(64, 112),
    seamAttributes: raw.subarray(112, 120),
    tdAttributes,
    debug: (tdAttributes[0]! & 0x01) !== 0,
    xfam: raw.subarray(128, 136),
    mrTd: raw.subarray(136, 184),
    mrConfigId: raw.subarray(184, 232),
    mrOwner: raw.subarray(232, 280),
    mrOwnerConfig: raw.subarray(280, 328),
    rtmr0: raw.subarray(328, 376),
    rtmr1: raw.subarray(376, 424),
    rtmr2: raw.subarray(424, 472),
    rtmr3: raw.subarray(472, 520),
    reportData: raw.subarray(520, 584),
  };
  if (raw.length === TD_REPORT15_SIZE) {
    report.teeTcbSvn2 = raw.subarray(584, 600);
    report.mrServiceTd = raw.subarray(600, 648);
  }
  return report;
}

function parseHeader(r: Reader): QuoteHeader {
  const version = r.u16('version');
  const attestationKeyType = r.u16('attestation key type');
  const tee = r.u32('TEE type');
  const qeSvn = r.u16('QE SVN');
  const pceSvn = r.u16('PCE SVN');
  const qeVendorId = r.bytes(16, 'QE vendor ID');
  const userData = r.bytes(20, 'user data');
  if (version !== 3 && version !== 4 && version !== 5) fail('unsupported_quote', `quote version ${version} is not supported (3, 4 or 5)`);
  if (tee !== TEE_SGX && tee !== TEE_TDX) fail('unsupported_tee', `TEE type 0x${tee.toString(16)} is neither SGX (0) nor TDX (0x81)`);
  if (tee === TEE_TDX && version === 3) fail('unsupported_quote', 'quote v3 carries SGX only; a TDX quote is v4 or v5');
  if (attestationKeyType !== ATTESTATION_KEY_TYPE_ECDSA_P256) fail('unsupported_quote', `attestation key type ${attestationKeyType} is not ECDSA-256-with-P-256 (2)`);
  if (!qeVendorId.equals(INTEL_QE_VENDOR_ID)) fail('unsupported_quote', `QE vendor ID ${qeVendorId.toString('hex')} is not Intel's`);
  return { version, attestationKeyType, teeType: tee === TEE_TDX ? 'TDX' : 'SGX', qeSvn, pceSvn, qeVendorId, userData };
}

/** QE report, its signature, QE auth data and the certification data that follows them. */
function parseQeReportSection(r: Reader): Omit<QuoteSignatureData, 'isvSignature' | 'attestationKey'> {
  const qeReport = parseReportBody(r.bytes(REPORT_BODY_SIZE, 'QE report'));
  const qeReportSignature = r.bytes(64, 'QE report signature');
  const authSize = r.u16('QE auth data size');
  const qeAuthData = r.bytes(authSize, 'QE auth data');
  const certification = parseCertificationData(r);
  return { qeReport, qeReportSignature, qeAuthData, certification };
}

function parseCertificationData(r: Reader): CertificationData {
  const type = r.u16('certification data type');
  const size = r.u32('certification data size');
  const data = r.bytes(size, 'certification data');
  return { type, data };
}

/** Declared structures must fill their container exactly (Intel's parsedDataSize checks). */
function expectConsumed(r: Reader, what: string): void {
  if (r.remaining !== 0) fail('malformed_quote', `${what} declares ${r.remaining} bytes more than its contents`);
}

export function parseQuote(input: Buffer): Quote {
  if (!Buffer.isBuffer(input)) fail('malformed_quote', 'quote must be bytes');
  const raw = input;
  const top = new Reader(raw, 0, raw.length, 'quote');
  const header = parseHeader(top);
  // The body: an SGX report, or a TD report 1.0; in v5, what the body type and size say (each must agree
  // with the TEE of the header: Quote::validate).
  let bodySize = header.teeType === 'TDX' ? TD_REPORT10_SIZE : REPORT_BODY_SIZE;
  if (header.version === 5) {
    const bodyType = top.u16('v5 body type');
    const declared = top.u32('v5 body size');
    if (bodyType !== V5_BODY_SGX && bodyType !== V5_BODY_TD10 && bodyType !== V5_BODY_TD15) fail('unsupported_quote', `unknown v5 body type ${bodyType}`);
    if ((bodyType === V5_BODY_SGX) !== (header.teeType === 'SGX')) fail('unsupported_quote', `v5 body type ${bodyType} does not match the ${header.teeType} TEE type`);
    bodySize = bodyType === V5_BODY_SGX ? REPORT_BODY_SIZE : bodyType === V5_BODY_TD10 ? TD_REPORT10_SIZE : TD_REPORT15_SIZE;
    if (declared !== bodySize) fail('malformed_quote', `v5 body size ${declared} is not ${bodySize} (body type ${bodyType})`);
  }
  const bodyBytes = top.bytes(bodySize, header.teeType === 'TDX' ? 'TD report' : 'report body');
  const signedBytes = raw.subarray(0, top.pos);
  const sigLen = top.u32('signature data length');
  const sigStart = top.pos;
  if (sigLen > top.remaining) fail('malformed_quote', `signature data length ${sigLen} overflows the quote (${top.remaining} bytes left)`);
  const sigEnd = sigStart + sigLen;
  // Bytes after the declared signature data: real quote buffers carry zero padding; anything else
  // would make the quote malleable, so it is refused.
  const trailing = raw.subarray(sigEnd);
  if (trailing.some((b) => b !== 0)) fail('malformed_quote', `${trailing.length} non-zero bytes follow the declared signature data`);

  const r = new Reader(raw, sigStart, sigEnd, 'signature data');
  const isvSignature = r.bytes(64, 'ISV signature');
  const attestationKey = r.bytes(64, 'attestation key');
  let rest: Omit<QuoteSignatureData, 'isvSignature' | 'attestationKey'>;
  if (header.version === 3) {
    rest = parseQeReportSection(r);
    expectConsumed(r, 'signature data');
  } else {
    const outer = parseCertificationData(r);
    expectConsumed(r, 'signature data');
    if (outer.type !== CERT_DATA_QE_REPORT) fail('unsupported_quote', `quote v${header.version} certification data type ${outer.type} is not 6 (QE report)`);
    const inner = new Reader(outer.data, 0, outer.data.length, 'QE report certification data');
    rest = parseQeReportSection(inner);
    expectConsumed(inner, 'QE report certification data');
  }
  const t = rest.certification.type;
  if (t < 1 || t > MAX_KNOWN_CERT_TYPE || t === CERT_DATA_QE_REPORT || t === 7) {
    fail('unsupported_quote', `certification data type ${t} is not supported (1-5)`);
  }
  const signature = { isvSignature, attestationKey, ...rest };
  if (header.teeType === 'TDX') return { teeType: 'TDX', raw, header, body: parseTdReport(bodyBytes), signedBytes, signature };
  return { teeType: 'SGX', raw, header, body: parseReportBody(bodyBytes), signedBytes, signature };
}

export { CERT_DATA_PCK_CHAIN };
