// SGX SIGSTRUCT (enclave signature structure, 1808 bytes): parsing, MRSIGNER and signature check,
// and locating it in a signed enclave ELF (the SDK's `.note.sgxmeta` section, as `occlum build` produces).
import { createHash, createPublicKey, verify } from 'node:crypto';
import { WardenError } from '../protocol/errors.ts';

export const SIGSTRUCT_SIZE = 1808;
const HEADER = Buffer.from('06000000e10000000000010000000000', 'hex');
const HEADER2 = Buffer.from('01010000600000006000000001000000', 'hex');
const METADATA_MAGIC = 0x86a80294635d0e4cn;
const METADATA_CSS_OFFSET = 64; // enclave_css_t inside metadata_t
const FLAG_DEBUG = 2n;

export type SigstructErrorCode = 'not_an_enclave' | 'malformed_elf' | 'no_sgx_metadata' | 'malformed_sigstruct' | 'signature_invalid';

export class SigstructError extends WardenError<SigstructErrorCode> {
  constructor(code: SigstructErrorCode, message: string) {
    super(code, message);
    this.name = 'SigstructError';
  }
}

const fail = (code: SigstructErrorCode, message: string): never => {
  throw new SigstructError(code, message);
};

export interface Sigstruct {
  raw: Buffer;
  vendor: number; // 0 or 0x8086
  date: string; // YYYY-MM-DD from the BCD field, as the signer wrote it
  swDefined: number;
  modulus: Buffer; // 384, little-endian as stored
  exponent: number;
  signature: Buffer; // 384, little-endian as stored
  miscSelect: number;
  miscMask: number;
  isvFamilyId: Buffer; // 16
  attributes: Buffer; // 16: FLAGS || XFRM
  attributeMask: Buffer; // 16
  flags: bigint;
  flagsMask: bigint;
  mrEnclave: Buffer; // ENCLAVEHASH
  isvExtProdId: Buffer; // 16
  isvProdId: number;
  isvSvn: number;
  /** SHA-256 of the modulus as stored (little-endian): what EINIT puts in MRSIGNER. */
  mrSigner: Buffer;
  /** The signer allows the enclave to be launched in debug mode (DEBUG not enforced to 0 by the mask, or required). */
  debugAllowed: boolean;
  /** The signature covers header and body with the stated modulus, and Q1/Q2 are consistent. */
  signatureValid: boolean;
}

/** Parses a 1808-byte SIGSTRUCT; checks fixed headers and the RSA-3072 signature (exponent 3). */
export function parseSigstruct(raw: Buffer): Sigstruct {
  if (raw.length !== SIGSTRUCT_SIZE) fail('malformed_sigstruct', `a SIGSTRUCT is ${SIGSTRUCT_SIZE} bytes, got ${raw.length}`);
  if (!raw.subarray(0, 16).equals(HEADER) || !raw.subarray(24, 40).equals(HEADER2)) {
    fail('malformed_sigstruct', 'SIGSTRUCT header constants are wrong (not a SIGSTRUCT)');
  }
  const vendor = raw.readUInt32LE(16);
  if (vendor !== 0 && vendor !== 0x8086) fail('malformed_sigstruct', `SIGSTRUCT vendor 0x${vendor.toString(16)} is neither 0 nor 0x8086`);
  const modulus = Buffer.from(raw.subarray(128, 512));
  const exponent = raw.readUInt32LE(512);
  const signature = Buffer.from(raw.subarray(516, 900));
  const attributes = Buffer.from(raw.subarray(928, 944));
  const attributeMask = Buffer.from(raw.subarray(944, 960));
  const flags = attributes.readBigUInt64LE(0);
  const flagsMask = attributeMask.readBigUInt64LE(0);
  const s: Sigstruct = {
    raw: Buffer.from(raw),
    vendor,
    date: bcdDate(raw.readUInt32LE(20)),
    swDefined: raw.readUInt32LE(40),
    modulus,
    exponent,
    signature,
    miscSelect: raw.readUInt32LE(900),
    miscMask: raw.readUInt32LE(904),
    isvFamilyId: Buffer.from(raw.subarray(912, 928)),
    attributes,
    attributeMask,
    flags,
    flagsMask,
    mrEnclave: Buffer.from(raw.subarray(960, 992)),
    isvExtProdId: Buffer.from(raw.subarray(1008, 1024)),
    isvProdId: raw.readUInt16LE(1024),
    isvSvn: raw.readUInt16LE(1026),
    mrSigner: createHash('sha256').update(modulus).digest(),
    debugAllowed: (flagsMask & FLAG_DEBUG) === 0n || (flags & FLAG_DEBUG) !== 0n,
    signatureValid: false,
  };
  s.signatureValid = checkSignature(raw, modulus, exponent, signature);
  return s;
}

/** The bytes the enclave signer signs: HEADER..SWDEFINED/RESERVED (128) || MISCSELECT..ISVSVN (128). */
export function sigstructSignedBytes(raw: Buffer): Buffer {
  return Buffer.concat([raw.subarray(0, 128), raw.subarray(900, 1028)]);
}

function checkSignature(raw: Buffer, modulusLe: Buffer, exponent: number, signatureLe: Buffer): boolean {
  if (exponent !== 3) return false; // EINIT only accepts e = 3
  const nBe = Buffer.from(modulusLe).reverse();
  const sBe = Buffer.from(signatureLe).reverse();
  if ((nBe[0] ?? 0) < 0x80) return false; // not a 3072-bit modulus
  let ok = false;
  try {
    const key = createPublicKey({ key: { kty: 'RSA', n: nBe.toString('base64url'), e: 'Aw' }, format: 'jwk' });
    ok = verify('sha256', sigstructSignedBytes(raw), key, sBe);
  } catch {
    return false;
  }
  if (!ok) return false;
  // Q1 = floor(s^2 / n), Q2 = floor((s^3 - q1*s*n) / n): EINIT uses them and refuses a SIGSTRUCT whose values are wrong.
  const n = toBig(nBe);
  const sig = toBig(sBe);
  const q1 = (sig * sig) / n;
  const q2 = (sig * sig * sig - q1 * sig * n) / n;
  return leBig(raw.subarray(1040, 1424)) === q1 && leBig(raw.subarray(1424, 1808)) === q2;
}

const toBig = (be: Buffer): bigint => (be.length ? BigInt('0x' + be.toString('hex')) : 0n);
const leBig = (le: Buffer): bigint => toBig(Buffer.from(le).reverse());

function bcdDate(v: number): string {
  const digits = v.toString(16).padStart(8, '0'); // 0x20240131 → "20240131"
  return `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6, 8)}`;
}

/**
 * Finds the SIGSTRUCT in a file: a raw 1808-byte SIGSTRUCT, or a signed enclave ELF whose `.note.sgxmeta` note
 * "sgx_metadata" holds metadata_t records (SIGSTRUCT at offset 64). With several records, the highest version wins,
 * as the SGX loader prefers it.
 */
export function extractSigstruct(file: Buffer): { sigstruct: Buffer; source: 'raw' | 'elf'; metadataVersion?: string } {
  if (file.length === SIGSTRUCT_SIZE && file.subarray(0, 16).equals(HEADER)) return { sigstruct: Buffer.from(file), source: 'raw' };
  if (file.length < 4 || file.readUInt32BE(0) !== 0x7f454c46) {
    fail('not_an_enclave', `neither a ${SIGSTRUCT_SIZE}-byte SIGSTRUCT nor an ELF file`);
  }
  const note = findSection(file, '.note.sgxmeta');
  if (!note) fail('no_sgx_metadata', 'ELF file has no .note.sgxmeta section: not a signed SGX enclave');
  const sec = note as Buffer;
  if (sec.length < 12) fail('malformed_elf', '.note.sgxmeta is too short');
  const namesz = sec.readUInt32LE(0);
  const descsz = sec.readUInt32LE(4);
  const name = 'sgx_metadata\0';
  if (namesz !== name.length || sec.length < 12 + namesz || sec.toString('latin1', 12, 12 + namesz) !== name) {
    fail('no_sgx_metadata', '.note.sgxmeta does not hold an "sgx_metadata" note');
  }
  // The SDK places the descriptor right after the name, without the usual 4-byte note padding; accept both.
  const candidates = [12 + namesz, 12 + align4(namesz)];
  for (const start of candidates) {
    const desc = sec.subarray(start, Math.min(sec.length, start + descsz));
    if (desc.length < 8 || desc.readBigUInt64LE(0) !== METADATA_MAGIC) continue;
    let best: { version: bigint; css: Buffer } | undefined;
    for (let off = 0; off + 20 <= desc.length; ) {
      if (desc.readBigUInt64LE(off) !== METADATA_MAGIC) break;
      const version = desc.readBigUInt64LE(off + 8);
      const size = desc.readUInt32LE(off + 16);
      const cssStart = off + METADATA_CSS_OFFSET;
      if (cssStart + SIGSTRUCT_SIZE > desc.length) fail('malformed_elf', 'sgx_metadata record is truncated');
      if (!best || version > best.version) best = { version, css: Buffer.from(desc.subarray(cssStart, cssStart + SIGSTRUCT_SIZE)) };
      if (size === 0) break;
      off += size;
    }
    if (best) return { sigstruct: best.css, source: 'elf', metadataVersion: `${best.version >> 32n}.${best.version & 0xffffffffn}` };
  }
  return fail('no_sgx_metadata', 'sgx_metadata note holds no metadata record (bad magic)');
}

const align4 = (n: number) => (n + 3) & ~3;

/** The bytes of a named section of a 64-bit little-endian ELF, bounds-checked. */
function findSection(elf: Buffer, wanted: string): Buffer | undefined {
  if (elf.length < 64) fail('malformed_elf', 'ELF header is truncated');
  if (elf[4] !== 2) fail('malformed_elf', 'only 64-bit ELF enclaves are supported');
  if (elf[5] !== 1) fail('malformed_elf', 'only little-endian ELF is supported');
  const shoff = toSafe(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  if (shnum === 0) fail('malformed_elf', 'ELF file has no section headers');
  if (shentsize < 64 || shoff + shnum * shentsize > elf.length) fail('malformed_elf', 'ELF section header table is out of bounds');
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    const offset = toSafe(elf.readBigUInt64LE(o + 24));
    const size = toSafe(elf.readBigUInt64LE(o + 32));
    return { name: elf.readUInt32LE(o), type: elf.readUInt32LE(o + 4), offset, size };
  };
  const bytes = (h: { offset: number; size: number; type: number }) => {
    if (h.type === 8) return Buffer.alloc(0); // SHT_NOBITS
    if (h.offset + h.size > elf.length) fail('malformed_elf', 'ELF section is out of bounds');
    return elf.subarray(h.offset, h.offset + h.size);
  };
  if (shstrndx >= shnum) fail('malformed_elf', 'ELF section-name table index is out of range');
  const strtab = bytes(header(shstrndx));
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    if (h.name >= strtab.length) continue;
    const end = strtab.indexOf(0, h.name);
    const name = strtab.toString('latin1', h.name, end < 0 ? strtab.length : end);
    if (name === wanted) return bytes(h);
  }
  return undefined;
}

function toSafe(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('malformed_elf', 'ELF offset is out of range');
  return Number(v);
}
