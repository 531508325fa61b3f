// Many distinct sim platforms, fast. Issuing a PCK leaf through @peculiar/x509 costs 20-40 ms here,
// too slow for 10,000 platforms, so one leaf is issued by the sim and then cloned: the clone gets its
// own PCK key, serial, PPID (and FMSPC if asked), and is re-signed by the CA with node:crypto. The
// lengths of the TBS fields do not change, so only the outer SEQUENCE and BIT STRING are re-encoded.
import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { derToPem, type SimPki, type SimPlatform } from '../src/sim/index.ts';

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** Start of the content and end of one TLV at `at` (definite lengths up to 2 bytes, as certificates use). */
function header(der: Buffer, at: number): { start: number; end: number } {
  const first = der[at + 1]!;
  if (first < 0x80) return { start: at + 2, end: at + 2 + first };
  const n = first & 0x7f;
  let len = 0;
  for (let k = 0; k < n; k++) len = len * 256 + der[at + 2 + k]!;
  return { start: at + 2 + n, end: at + 2 + n + len };
}

function uniqueOffset(hay: Buffer, needle: Buffer, what: string): number {
  const i = hay.indexOf(needle);
  if (i < 0 || hay.indexOf(needle, i + 1) >= 0) throw new Error(`bench platforms: ${what} not found exactly once in the template leaf`);
  return i;
}

function rawPoint(key: KeyObject): Buffer {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 65); // 04 || X || Y
}

function newKeyPair(): { privateKey: KeyObject; point: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, point: rawPoint(publicKey) };
}

export class PlatformFactory {
  private constructor(
    private readonly template: SimPlatform,
    private readonly tbs: Buffer,
    private readonly algId: Buffer,
    private readonly offsets: { point: number; serial: number; serialLen: number; ppid: number; fmspc: number },
    private readonly caKey: KeyObject,
    private readonly chainTail: string,
    private readonly caPublicKey: KeyObject,
  ) {}

  static async create(pki: SimPki): Promise<PlatformFactory> {
    // A template of its own, so the PKI's platform cache never hands it out to someone else.
    const template = await pki.platform({ ppid: randomBytes(16) });
    const der = template.leafDer;
    const outer = header(der, 0);
    const tbsH = header(der, outer.start);
    const tbs = der.subarray(outer.start, tbsH.end);
    const algH = header(der, tbsH.end);
    const algId = der.subarray(tbsH.end, algH.end);
    const serial = Buffer.from(template.serialNumber, 'hex');
    const offsets = {
      point: uniqueOffset(tbs, rawPoint(template.pckKey), 'PCK public key'),
      serial: uniqueOffset(tbs, serial, 'serial'),
      serialLen: serial.length,
      ppid: uniqueOffset(tbs, template.ppid, 'PPID'),
      fmspc: uniqueOffset(tbs, template.fmspc, 'FMSPC'),
    };
    const ca = pki.ca(template.ca);
    return new PlatformFactory(template, Buffer.from(tbs), Buffer.from(algId), offsets, ca.privateKey, ca.pem + pki.rootPem, createPublicKey(ca.privateKey));
  }

  /**
   * A platform no verifier has seen: new PCK key, serial, PPID and attestation key. Also returns the
   * leaf's TBS, CA signature and CA key, for the floor of a never-seen leaf.
   */
  make(fmspc?: Buffer): SimPlatform & { leafTbs: Buffer; leafSignature: Buffer; caPublicKey: KeyObject } {
    const o = this.offsets;
    const tbs = Buffer.from(this.tbs);
    const pck = newKeyPair();
    pck.point.copy(tbs, o.point);
    // Keep the first serial byte (its sign bit and leading-zero rule stay as the template's).
    randomBytes(o.serialLen - 1).copy(tbs, o.serial + 1);
    const ppid = randomBytes(16);
    ppid.copy(tbs, o.ppid);
    const f = fmspc ?? this.template.fmspc;
    if (f.length !== 6) throw new Error('bench platforms: FMSPC must be 6 bytes');
    f.copy(tbs, o.fmspc);
    const signature = sign('sha256', tbs, this.caKey); // DER ECDSA-Sig-Value
    const leafDer = tlv(0x30, Buffer.concat([tbs, this.algId, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
    const leafPem = derToPem(leafDer);
    return {
      ...this.template,
      fmspc: Buffer.from(f),
      ppid,
      pckKey: pck.privateKey,
      attestationKey: newKeyPair().privateKey,
      leafDer,
      leafPem,
      serialNumber: tbs.subarray(o.serial, o.serial + o.serialLen).toString('hex'),
      chainPem: leafPem + this.chainTail,
      leafTbs: tbs,
      leafSignature: signature,
      caPublicKey: this.caPublicKey,
    };
  }
}
