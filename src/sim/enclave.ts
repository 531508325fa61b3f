// Signed enclaves without Occlum: real SIGSTRUCTs (RSA-3072, e = 3, PKCS#1 v1.5 SHA-256, Q1/Q2) and minimal
// ELF files that carry them in `.note.sgxmeta`, the way the SGX SDK's signing tool lays them out
// (linux-sgx sdk/sign_tool/SignTool/manage_metadata.cpp, common/inc/internal/metadata.h).
// Used by `warden sim enclave` and the tests.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

let cachedKey: { privateKey: KeyObject; publicKey: KeyObject } | undefined;

/** A new enclave signing key: RSA-3072 with exponent 3, as SGX requires. */
export function newSigningKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 });
}

/** One RSA-3072 key with exponent 3 per process: generation is the slow part. */
export function signingKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  cachedKey ??= newSigningKey();
  return cachedKey;
}

export interface SigstructSpec {
  mrEnclave: Buffer;
  isvProdId: number;
  isvSvn: number;
  debuggable: boolean;
  isvFamilyId?: Buffer;
  isvExtProdId?: Buffer;
  key?: KeyObject;
}

const big = (b: Buffer) => BigInt('0x' + b.toString('hex'));
function leBytes(v: bigint, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function buildSigstruct(spec: SigstructSpec): Buffer {
  const key = spec.key ?? signingKey().privateKey;
  const jwk = key.export({ format: 'jwk' });
  const nBe = Buffer.from(jwk.n as string, 'base64url');
  const css = Buffer.alloc(1808);
  Buffer.from('06000000e10000000000010000000000', 'hex').copy(css, 0);
  css.writeUInt32LE(0, 16); // vendor
  css.writeUInt32LE(0x20250314, 20); // date, BCD
  Buffer.from('01010000600000006000000001000000', 'hex').copy(css, 24);
  Buffer.from(nBe).reverse().copy(css, 128);
  css.writeUInt32LE(3, 512);
  css.writeUInt32LE(0, 900); // miscselect
  css.writeUInt32LE(0xffffffff, 904); // miscmask
  (spec.isvFamilyId ?? Buffer.alloc(16)).copy(css, 912);
  // FLAGS: INIT-relevant MODE64BIT (bit 2); the mask enforces DEBUG = 0 unless the enclave is debuggable.
  css.writeBigUInt64LE(0x4n, 928);
  css.writeBigUInt64LE(0x3n, 936); // XFRM x87|SSE
  css.writeBigUInt64LE(spec.debuggable ? 0xfffffffffffffffdn : 0xffffffffffffffffn, 944);
  css.writeBigUInt64LE(0xfffffffffff9ff1bn, 952);
  spec.mrEnclave.copy(css, 960);
  (spec.isvExtProdId ?? Buffer.alloc(16)).copy(css, 1008);
  css.writeUInt16LE(spec.isvProdId, 1024);
  css.writeUInt16LE(spec.isvSvn, 1026);
  const signed = Buffer.concat([css.subarray(0, 128), css.subarray(900, 1028)]);
  const sBe = sign('sha256', signed, key);
  Buffer.from(sBe).reverse().copy(css, 516);
  const n = big(nBe);
  const s = big(sBe);
  const q1 = (s * s) / n;
  const q2 = (s * s * s - q1 * s * n) / n;
  leBytes(q1, 384).copy(css, 1040);
  leBytes(q2, 384).copy(css, 1424);
  return css;
}

/** metadata_t: magic, version, size, …, attributes, then enclave_css at offset 64. */
export function metadataRecord(css: Buffer, major: number, minor: number, size = 4096): Buffer {
  const rec = Buffer.alloc(size);
  rec.writeBigUInt64LE(0x86a80294635d0e4cn, 0);
  rec.writeBigUInt64LE((BigInt(major) << 32n) | BigInt(minor), 8);
  rec.writeUInt32LE(size, 16);
  css.copy(rec, 64);
  return rec;
}

/** A 64-bit ELF with a `.note.sgxmeta` section ("sgx_metadata" note, descriptor unpadded after the name) and .shstrtab. */
export function buildEnclaveElf(records: Buffer[], opts: { sectionName?: string } = {}): Buffer {
  const desc = Buffer.concat(records);
  const name = Buffer.from('sgx_metadata\0', 'latin1');
  const noteHead = Buffer.alloc(12);
  noteHead.writeUInt32LE(name.length, 0);
  noteHead.writeUInt32LE(desc.length, 4);
  noteHead.writeUInt32LE(1, 8);
  let note = Buffer.concat([noteHead, name, desc]);
  note = Buffer.concat([note, Buffer.alloc((4 - (note.length % 4)) % 4)]);
  const sectionName = opts.sectionName ?? '.note.sgxmeta';
  const shstrtab = Buffer.from(`\0${sectionName}\0.shstrtab\0`, 'latin1');
  const text = Buffer.alloc(256, 0xcc); // stand-in for code
  const noteOff = 64 + text.length;
  const strOff = noteOff + note.length;
  const shoff = align8(strOff + shstrtab.length);
  const elf = Buffer.alloc(shoff + 4 * 64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(elf, 0);
  elf.writeUInt16LE(3, 16); // ET_DYN
  elf.writeUInt16LE(62, 18); // x86-64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(64, 0x34); // e_ehsize
  elf.writeUInt16LE(64, 0x3a); // e_shentsize
  elf.writeUInt16LE(4, 0x3c); // e_shnum
  elf.writeUInt16LE(3, 0x3e); // e_shstrndx
  text.copy(elf, 64);
  note.copy(elf, noteOff);
  shstrtab.copy(elf, strOff);
  const sh = (i: number, nameOff: number, type: number, off: number, size: number, align: number) => {
    const o = shoff + i * 64;
    elf.writeUInt32LE(nameOff, o);
    elf.writeUInt32LE(type, o + 4);
    elf.writeBigUInt64LE(BigInt(off), o + 24);
    elf.writeBigUInt64LE(BigInt(size), o + 32);
    elf.writeBigUInt64LE(BigInt(align), o + 48);
  };
  // 0: null, 1: .text (unnamed for brevity: points at the empty name), 2: the note, 3: .shstrtab
  sh(1, 0, 1, 64, text.length, 16);
  sh(2, 1, 7, noteOff, note.length, 4);
  sh(3, 1 + sectionName.length + 1, 3, strOff, shstrtab.length, 1);
  return elf;
}

const align8 = (n: number) => (n + 7) & ~7;
