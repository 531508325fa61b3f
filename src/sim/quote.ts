// The sim quoting enclave: DCAP ECDSA quotes v3, v4 and v5 (SGX) and v4 and v5 (TDX: TD report 1.0 or 1.5),
// laid out as Intel's QE and TD QE lay them out.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { INTEL_QE, INTEL_TD_QE } from './intel-names.ts';
import { rawPublicKey, signRaw } from './keys.ts';
import type { SimPlatform } from './platform.ts';
import { SIM_ENCLAVE, encodeReportBody, type ReportFields } from './report.ts';
import { encodeTdReport, type TdReportFields } from './td-report.ts';

export const TEE_TYPE_TDX = 0x81;

export const QUOTE_HEADER_SIZE = 48;
/** Intel QE's QE authentication data: the bytes 00..1f. */
export const DEFAULT_QE_AUTH_DATA = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

export interface QuoteHeaderOverrides {
  version?: number;
  attestationKeyType?: number;
  teeType?: number;
  qeSvn?: number;
  pceSvn?: number;
  qeVendorId?: Buffer; // 16
  userData?: Buffer; // 20
}

export interface QuoteOptions {
  platform: SimPlatform;
  version?: 3 | 4 | 5;
  /** v5 only: the body type and size fields (default 1 = SGX, 384). */
  v5Body?: { type?: number; size?: number };
  /** The application enclave's report body (defaults: SIM_ENCLAVE, platform CPUSVN). */
  report?: ReportFields;
  /**
   * A TDX quote (TEE type 0x81, quoted by the TD QE) with this TD report (defaults: SIM_TD). Needs version 4
   * or 5; in v5 the body type is 2 (TD report 1.0) or 3 (1.5) by the report's version.
   */
  td?: TdReportFields;
  /** The QE's report body (defaults: Intel's QE, ISVSVN 8). */
  qeReport?: ReportFields;
  qeAuthData?: Buffer;
  /** Inner certification data type: 5 (PEM chain) by default; 1-4 build their real layouts. */
  certificationDataType?: number;
  /** Raw inner certification data instead of the generated one. */
  certificationData?: Buffer;
  /** Intel's QE ends the PEM chain with a NUL byte; default true. */
  pemTrailingNul?: boolean;
  /** v4 outer certification data type (default 6). */
  outerCertificationDataType?: number;
  /** Header fields written over the defaults (before signing). */
  header?: QuoteHeaderOverrides;
  /** Key that signs the quote and is carried in it (default: the platform's attestation key). */
  attestationKey?: KeyObject;
  /**
   * The QE certified the platform's attestation key, but the quote carries and is signed by this
   * one instead (an attacker swapping the key).
   */
  swapAttestationKey?: KeyObject;
  /** QE REPORTDATA (64) instead of SHA-256(attestation key || auth data) || 0^32. */
  qeReportData?: Buffer;
  /** Key that signs the QE report (default: the PCK leaf key). */
  qeReportSigningKey?: KeyObject;
  /** Flip a bit of a signature after signing. */
  corrupt?: { isvSignature?: boolean; qeReportSignature?: boolean };
  /** Bytes after the declared signature data (real quote buffers come zero-padded). */
  trailing?: Buffer;
}

/** Absolute offsets of every structure in a built quote (for truncation and tampering tests). */
export interface QuoteLayout {
  header: number;
  body: number;
  signatureDataLength: number;
  signatureData: number;
  isvSignature: number;
  attestationKey: number;
  /** v4: outer certification data type / size / body. */
  outerCertificationType?: number;
  outerCertificationSize?: number;
  outerCertificationData?: number;
  qeReport: number;
  qeReportSignature: number;
  qeAuthDataSize: number;
  qeAuthData: number;
  certificationType: number;
  certificationSize: number;
  certificationData: number;
  /** End of the declared signature data. */
  end: number;
}

export function qeReportDataFor(attestationKey: Buffer, qeAuthData: Buffer): Buffer {
  return Buffer.concat([createHash('sha256').update(attestationKey).update(qeAuthData).digest(), Buffer.alloc(32)]);
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** Certification data of types 1-5 in Intel's layouts (encrypted PPIDs are random: only the size matters). */
export function certificationDataFor(p: SimPlatform, type: number, pemTrailingNul = true): Buffer {
  const tail = Buffer.concat([p.cpuSvn, u16(p.pceSvn), p.pceId]);
  const nul = pemTrailingNul ? Buffer.from([0]) : Buffer.alloc(0);
  switch (type) {
    case 1:
      return Buffer.concat([p.ppid, tail]);
    case 2:
      return Buffer.concat([randomBytes(256), tail]);
    case 3:
      return Buffer.concat([randomBytes(384), tail]);
    case 4:
      return Buffer.concat([Buffer.from(p.leafPem, 'ascii'), nul]);
    case 5:
      return Buffer.concat([Buffer.from(p.chainPem, 'ascii'), nul]);
    default:
      return Buffer.alloc(0);
  }
}

/** Drop undefined fields so a caller's `{ x: undefined }` keeps the default. */
function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function flipLastBit(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 0x01;
  return c;
}

export function buildQuote(o: QuoteOptions): { quote: Buffer; layout: QuoteLayout } {
  const p = o.platform;
  const version = o.version ?? 3;
  const qeAuthData = o.qeAuthData ?? DEFAULT_QE_AUTH_DATA;

  const signingKey = o.swapAttestationKey ?? o.attestationKey ?? p.attestationKey;
  const carriedKey = rawPublicKey(signingKey);
  const certifiedKey = o.swapAttestationKey ? rawPublicKey(o.attestationKey ?? p.attestationKey) : carriedKey;

  const qe = o.td ? INTEL_TD_QE : INTEL_QE;
  const qeFields: ReportFields = {
    cpuSvn: p.cpuSvn,
    miscSelect: qe.miscSelect,
    flags: qe.flags,
    xfrm: qe.xfrm,
    mrEnclave: qe.mrEnclave,
    mrSigner: qe.mrSigner,
    isvProdId: qe.isvProdId,
    isvSvn: qe.isvSvn,
    reportData: o.qeReportData ?? qeReportDataFor(certifiedKey, qeAuthData),
    ...defined(o.qeReport),
  };
  const qeReport = encodeReportBody(qeFields);
  let qeReportSignature = signRaw(qeReport, o.qeReportSigningKey ?? p.pckKey);
  if (o.corrupt?.qeReportSignature) qeReportSignature = flipLastBit(qeReportSignature);

  const h = o.header ?? {};
  const header = Buffer.alloc(QUOTE_HEADER_SIZE);
  header.writeUInt16LE(h.version ?? version, 0);
  header.writeUInt16LE(h.attestationKeyType ?? 2, 2);
  header.writeUInt32LE(h.teeType ?? (o.td ? TEE_TYPE_TDX : 0), 4);
  // v3 carries QE SVN and PCE SVN here; in v4 these four bytes are reserved (zero).
  if (version === 3 || h.qeSvn !== undefined) header.writeUInt16LE(h.qeSvn ?? qeFields.isvSvn ?? 0, 8);
  if (version === 3 || h.pceSvn !== undefined) header.writeUInt16LE(h.pceSvn ?? p.pceSvn, 10);
  (h.qeVendorId ?? INTEL_QE.vendorId).copy(header, 12, 0, 16);
  (h.userData ?? Buffer.concat([p.qeId, Buffer.alloc(4)])).copy(header, 28, 0, 20);

  const body = o.td
    ? encodeTdReport(o.td)
    : encodeReportBody({
        cpuSvn: p.cpuSvn,
        flags: SIM_ENCLAVE.flags,
        xfrm: SIM_ENCLAVE.xfrm,
        mrEnclave: SIM_ENCLAVE.mrEnclave,
        mrSigner: SIM_ENCLAVE.mrSigner,
        ...defined(o.report),
      });
  // v5 puts a body type and size between header and body; the ISV signature covers them too.
  const bodyType = o.td ? (o.td.version === '1.5' ? 3 : 2) : 1;
  const v5Prefix = version === 5 ? Buffer.concat([u16(o.v5Body?.type ?? bodyType), u32(o.v5Body?.size ?? body.length)]) : Buffer.alloc(0);
  const signed = Buffer.concat([header, v5Prefix, body]);
  let isvSignature = signRaw(signed, signingKey);
  if (o.corrupt?.isvSignature) isvSignature = flipLastBit(isvSignature);

  const certType = o.certificationDataType ?? 5;
  const certData = o.certificationData ?? certificationDataFor(p, certType, o.pemTrailingNul ?? true);
  const qeBlock = Buffer.concat([
    qeReport,
    qeReportSignature,
    u16(qeAuthData.length),
    qeAuthData,
    u16(certType),
    u32(certData.length),
    certData,
  ]);

  const sigStart = signed.length + 4;
  const layout: QuoteLayout = {
    header: 0,
    body: QUOTE_HEADER_SIZE + v5Prefix.length,
    signatureDataLength: signed.length,
    signatureData: sigStart,
    isvSignature: sigStart,
    attestationKey: sigStart + 64,
    qeReport: 0,
    qeReportSignature: 0,
    qeAuthDataSize: 0,
    qeAuthData: 0,
    certificationType: 0,
    certificationSize: 0,
    certificationData: 0,
    end: 0,
  };
  let sigData: Buffer;
  let qeStart: number;
  if (version === 3) {
    sigData = Buffer.concat([isvSignature, carriedKey, qeBlock]);
    qeStart = sigStart + 128;
  } else {
    sigData = Buffer.concat([isvSignature, carriedKey, u16(o.outerCertificationDataType ?? 6), u32(qeBlock.length), qeBlock]);
    layout.outerCertificationType = sigStart + 128;
    layout.outerCertificationSize = sigStart + 130;
    layout.outerCertificationData = sigStart + 134;
    qeStart = sigStart + 134;
  }
  layout.qeReport = qeStart;
  layout.qeReportSignature = qeStart + 384;
  layout.qeAuthDataSize = qeStart + 448;
  layout.qeAuthData = qeStart + 450;
  layout.certificationType = layout.qeAuthData + qeAuthData.length;
  layout.certificationSize = layout.certificationType + 2;
  layout.certificationData = layout.certificationType + 6;
  layout.end = layout.certificationData + certData.length;

  const quote = Buffer.concat([signed, u32(sigData.length), sigData, o.trailing ?? Buffer.alloc(0)]);
  return { quote, layout };
}

export function makeQuote(o: QuoteOptions): Buffer {
  return buildQuote(o).quote;
}
