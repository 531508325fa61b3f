// A small, bounds-checked DER reader: enough for X.509 certificates, CRLs and the SGX extension.
// node:crypto cannot read raw extensions or CRLs, and a full ASN.1 library is far slower on the hot path.

export class DerError extends Error {
  override name = 'DerError';
}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte in the buffer. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

/** Reads one TLV at `pos`, which must end at or before `limit`. */
export function readTlv(buf: Buffer, pos: number, limit: number = buf.length): Tlv {
  if (limit > buf.length) throw new DerError('DER limit beyond buffer');
  if (pos + 2 > limit) throw new DerError('DER element truncated');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[pos + 1]!;
  let contentStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length form');
    if (contentStart + n > limit) throw new DerError('DER length truncated');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[contentStart + i]!;
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new DerError('DER element runs past its container');
  return { tag, start: pos, contentStart, end };
}

/** The children of a constructed element. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}

export function content(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.contentStart, t.end);
}

export function whole(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.start, t.end);
}

export function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else parts.push(value);
      value = 0;
    } else if (i === bytes.length - 1) throw new DerError('truncated OID');
  }
  return parts.join('.');
}

export function readOid(buf: Buffer, t: Tlv | undefined): string {
  return decodeOid(content(buf, expectTag(t, TAG.OID, 'OBJECT IDENTIFIER')));
}

/** A small non-negative INTEGER (SVNs, versions). */
export function readSmallInt(buf: Buffer, t: Tlv | undefined, tag: number = TAG.INTEGER): number {
  const c = content(buf, expectTag(t, tag, 'INTEGER'));
  if (c.length === 0 || c.length > 6) throw new DerError('INTEGER out of range');
  if (c[0]! & 0x80) throw new DerError('negative INTEGER');
  let v = 0;
  for (const b of c) v = v * 256 + b;
  return v;
}

/** An INTEGER's magnitude without leading zero bytes: how serial numbers are compared. */
export function integerBytes(buf: Buffer, t: Tlv | undefined): Buffer {
  let c = content(buf, expectTag(t, TAG.INTEGER, 'INTEGER'));
  if (c.length === 0) throw new DerError('empty INTEGER');
  while (c.length > 1 && c[0] === 0) c = c.subarray(1);
  return c;
}

export function readTime(buf: Buffer, t: Tlv | undefined): Date {
  if (!t || (t.tag !== TAG.UTC_TIME && t.tag !== TAG.GENERALIZED_TIME)) throw new DerError('expected a time');
  const s = content(buf, t).toString('latin1');
  const m = t.tag === TAG.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new DerError('malformed time');
  let year = Number(m[1]);
  if (t.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime())) throw new DerError('malformed time');
  return d;
}

/** An X.501 Name as comparable text: `oid=value` per attribute, in order. Encoding-independent. */
export function readName(buf: Buffer, t: Tlv | undefined): { text: string; cn: string } {
  const name = expectTag(t, TAG.SEQUENCE, 'Name');
  const attrs: string[] = [];
  let cn = '';
  for (const rdn of children(buf, name)) {
    expectTag(rdn, TAG.SET, 'RelativeDistinguishedName');
    for (const atv of children(buf, rdn)) {
      const [oidT, valT] = children(buf, expectTag(atv, TAG.SEQUENCE, 'AttributeTypeAndValue'));
      const oid = readOid(buf, oidT);
      if (!valT) throw new DerError('attribute without value');
      const value = content(buf, valT).toString(valT.tag === 0x1e ? 'utf16le' : 'utf8');
      attrs.push(`${oid}=${value}`);
      if (oid === '2.5.4.3') cn = value;
    }
  }
  return { text: attrs.join('\n'), cn };
}
