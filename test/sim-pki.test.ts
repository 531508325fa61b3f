// The sim PKI mirrors Intel's certificates and CRLs: same ASN.1 shape as the real fixtures, valid signatures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate, createPublicKey, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import { SimPki, SimPkiFormatError } from '../src/sim/pki.ts';
import { encodeSgxExtension, SGX_EXTENSION_OID } from '../src/sim/sgx-extension.ts';
import { newP256Key } from '../src/sim/keys.ts';
import { needsShared, sharedPath } from './helpers/shared.ts';

const fixtureChain = (dir: string): string[] => {
  const q = readFileSync(sharedPath('fixtures/dcap', dir, 'quote.bin'));
  const pem = q.subarray(q.indexOf('-----BEGIN')).toString('latin1');
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
};
const fixtureCollateral = (dir: string) => JSON.parse(readFileSync(sharedPath('fixtures/dcap', dir, 'collateral.json'), 'utf8')) as Record<string, string>;
const pemsOf = (chain: string) => chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
const derOf = (pem: string) => new X509Certificate(pem).raw;

const EXT_OIDS = new Set(['2.5.29.35', '2.5.29.31', '2.5.29.14', '2.5.29.15', '2.5.29.19', '2.5.29.20', '2.5.29.21', SGX_EXTENSION_OID]);

/** Structure of a DER value with everything that legitimately differs (keys, serials, times, SVNs) left out. */
function skeleton(der: ArrayBuffer | Buffer): string[] {
  const buf = der instanceof ArrayBuffer ? der : Uint8Array.from(der).buffer;
  const parsed = asn1js.fromBER(buf);
  assert.equal(parsed.offset, buf.byteLength, 'DER parses to its end');
  const out: string[] = [];
  const walk = (n: asn1js.AsnType, depth: number, parentFirstOid?: string): void => {
    const b = n as asn1js.BaseBlock;
    const tag = `${b.idBlock.tagClass}:${b.idBlock.tagNumber}`;
    const pad = ' '.repeat(depth);
    if (n instanceof asn1js.ObjectIdentifier) out.push(`${pad}OID ${n.valueBlock.toString()}`);
    else if (n instanceof asn1js.Utf8String || n instanceof asn1js.PrintableString) out.push(`${pad}${b.constructor.name} ${n.valueBlock.value}`);
    else if (n instanceof asn1js.OctetString && parentFirstOid && EXT_OIDS.has(parentFirstOid)) {
      out.push(`${pad}OCTET STRING (extension value)`);
      walk(asn1js.fromBER(n.valueBlock.valueHexView.slice().buffer).result, depth + 1);
    } else if (n instanceof asn1js.OctetString) out.push(`${pad}OCTET STRING len ${n.valueBlock.valueHexView.length}`);
    else if (n instanceof asn1js.Boolean) out.push(`${pad}BOOLEAN ${n.valueBlock.value}`);
    else if (n instanceof asn1js.Enumerated) out.push(`${pad}ENUMERATED`);
    else if (n instanceof asn1js.Integer) out.push(`${pad}INTEGER`);
    else if (n instanceof asn1js.BitString) out.push(`${pad}BIT STRING`);
    else out.push(`${pad}${b.constructor.name} ${tag}`);
    if (n instanceof asn1js.Constructed) {
      const kids = n.valueBlock.value;
      const first = kids[0] instanceof asn1js.ObjectIdentifier ? kids[0].valueBlock.toString() : undefined;
      for (const k of kids) walk(k, depth + 1, first);
    }
  };
  walk(parsed.result, 0);
  return out;
}

const pki = await SimPki.create();

test('root, PCK CAs and TCB Signing have the ASN.1 shape of Intel\'s certificates', needsShared('fixtures/dcap'), async () => {
  const [, processorCa, root] = fixtureChain('S1-dcapqvl-sgx-v3');
  const [, platformCa] = fixtureChain('S5a-automata-sgx-v3-tcbinfo-v3');
  const [tcbSigning] = pemsOf(fixtureCollateral('S1-dcapqvl-sgx-v3')['tcb_info_issuer_chain']!);
  assert.deepEqual(skeleton(pki.root.der), skeleton(derOf(root!)));
  assert.deepEqual(skeleton(pki.processorCa.der), skeleton(derOf(processorCa!)));
  assert.deepEqual(skeleton(pki.platformCa.der), skeleton(derOf(platformCa!)));
  assert.deepEqual(skeleton(pki.tcbSigning.der), skeleton(derOf(tcbSigning!)));
  // Root: same size as Intel's (948-byte PEM), subject = issuer, Intel's validity end.
  const r = new X509Certificate(pki.root.der);
  assert.equal(r.subject, 'CN=Intel SGX Root CA\nO=Intel Corporation\nL=Santa Clara\nST=CA\nC=US');
  assert.equal(r.issuer, r.subject);
  assert.equal(new Date(r.validTo).toISOString(), '2049-12-31T23:59:59.000Z');
  assert.equal(r.ca, true);
  // CA serial numbers equal the subject key identifier, as Intel's do.
  for (const ca of [pki.root, pki.processorCa, pki.platformCa, pki.tcbSigning]) assert.equal(ca.serialNumber, ca.keyId);
});

test('PCK leaves have the shape of Intel\'s, with the SGX extension for their CA kind', needsShared('fixtures/dcap'), async () => {
  const [procLeaf] = fixtureChain('S1-dcapqvl-sgx-v3');
  const [platLeaf] = fixtureChain('S5a-automata-sgx-v3-tcbinfo-v3');
  const p = await pki.platform({ ca: 'processor' });
  const q = await pki.platform({ ca: 'platform', fmspc: '00606A000000' });
  assert.deepEqual(skeleton(p.leafDer), skeleton(derOf(procLeaf!)));
  assert.deepEqual(skeleton(q.leafDer), skeleton(derOf(platLeaf!)));
  const leaf = new X509Certificate(q.leafDer);
  assert.match(leaf.issuer, /^CN=Intel SGX PCK Platform CA\n/);
  assert.match(leaf.subject, /^CN=Intel SGX PCK Certificate\n/);
  assert.equal(leaf.serialNumber.toLowerCase().replace(/^0+/, ''), q.serialNumber.replace(/^0+/, ''));
  assert.ok(leaf.checkIssued(new X509Certificate(pki.platformCa.der)));
  assert.ok(leaf.verify(new X509Certificate(pki.platformCa.der).publicKey));
  assert.ok(leaf.checkPrivateKey(q.pckKey));
  // The chain the quote carries: leaf, CA, root.
  const chain = pemsOf(q.chainPem).map((c) => new X509Certificate(c));
  assert.deepEqual(chain.map((c) => c.subject.split('\n')[0]), ['CN=Intel SGX PCK Certificate', 'CN=Intel SGX PCK Platform CA', 'CN=Intel SGX Root CA']);
});

/** Decode a real SGX extension into fields (test-local, independent of the sim encoder). */
function decodeSgxExtension(value: Buffer) {
  const top = asn1js.fromBER(Uint8Array.from(value).buffer).result as asn1js.Sequence;
  const fields = new Map<string, asn1js.AsnType>();
  const collect = (seq: asn1js.Sequence) => {
    for (const item of seq.valueBlock.value as asn1js.Sequence[]) {
      const [oid, val] = item.valueBlock.value as [asn1js.ObjectIdentifier, asn1js.AsnType];
      fields.set(oid.valueBlock.toString().slice(SGX_EXTENSION_OID.length + 1), val);
      if (val instanceof asn1js.Sequence) collect(val);
    }
  };
  collect(top);
  const oct = (k: string) => Buffer.from((fields.get(k) as asn1js.OctetString).valueBlock.valueHexView);
  const int = (k: string) => (fields.get(k) as asn1js.Integer).valueBlock.valueDec;
  const bool = (k: string) => (fields.get(k) as asn1js.Boolean).valueBlock.value;
  return {
    ppid: oct('1'),
    tcbComponents: Array.from({ length: 16 }, (_, i) => int(`2.${i + 1}`)),
    pceSvn: int('2.17'),
    cpuSvn: oct('2.18'),
    pceId: oct('3'),
    fmspc: oct('4'),
    sgxType: (fields.get('5') as asn1js.Enumerated).valueBlock.valueDec,
    ...(fields.has('6') ? { platformInstanceId: oct('6') } : {}),
    ...(fields.has('7') ? { configuration: { dynamicPlatform: bool('7.1'), cachedKeys: bool('7.2'), smtEnabled: bool('7.3') } } : {}),
  };
}

function sgxExtensionOf(der: Buffer): Buffer {
  const cert = asn1js.fromBER(Uint8Array.from(der).buffer).result as asn1js.Sequence;
  const tbs = cert.valueBlock.value[0] as asn1js.Sequence;
  const exts = (tbs.valueBlock.value.at(-1) as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence;
  for (const e of exts.valueBlock.value as asn1js.Sequence[]) {
    const [oid, ...rest] = e.valueBlock.value;
    if ((oid as asn1js.ObjectIdentifier).valueBlock.toString() === SGX_EXTENSION_OID) {
      return Buffer.from((rest.at(-1) as asn1js.OctetString).valueBlock.valueHexView);
    }
  }
  throw new Error('no SGX extension');
}

test('the SGX extension encoder reproduces Intel\'s bytes exactly (Processor and Platform CA leaves)', needsShared('fixtures/dcap'), () => {
  for (const dir of ['S1-dcapqvl-sgx-v3', 'S5a-automata-sgx-v3-tcbinfo-v3', 'S9-dcaprs-sgx-v3-debug']) {
    const real = sgxExtensionOf(derOf(fixtureChain(dir)[0]!));
    assert.equal(encodeSgxExtension(decodeSgxExtension(real)).toString('hex'), real.toString('hex'), dir);
  }
});

test('PCK leaf carries the platform values it was asked for', async () => {
  const tcb = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 200];
  const p = await pki.platform({ ca: 'platform', fmspc: 'a0b0c0d0e0f0', tcbComponents: tcb, pceSvn: 11, pceId: '0100' });
  const ext = decodeSgxExtension(sgxExtensionOf(p.leafDer));
  assert.deepEqual(ext.tcbComponents, tcb);
  assert.equal(ext.pceSvn, 11);
  assert.equal(ext.fmspc.toString('hex'), 'a0b0c0d0e0f0');
  assert.equal(ext.pceId.toString('hex'), '0100');
  assert.equal(ext.sgxType, 1);
  assert.equal(ext.cpuSvn.toString('hex'), Buffer.from(tcb).toString('hex'));
  assert.equal(ext.platformInstanceId?.length, 16);
  assert.deepEqual(ext.configuration, { dynamicPlatform: true, cachedKeys: false, smtEnabled: false });
  // Cached per platform: asking again gives the same leaf; other parameters give another one.
  assert.equal(await pki.platform({ ca: 'platform', fmspc: 'a0b0c0d0e0f0', tcbComponents: tcb, pceSvn: 11, pceId: '0100' }), p);
  assert.notEqual((await pki.platform({ ca: 'platform', fmspc: 'a0b0c0d0e0f1' })).serialNumber, p.serialNumber);
});

/** Verify a CRL's signature with node:crypto (independent of any CRL library). */
function crlSignedBy(der: Buffer, cert: X509Certificate): boolean {
  const crl = asn1js.fromBER(Uint8Array.from(der).buffer).result as asn1js.Sequence;
  const [tbs, , sig] = crl.valueBlock.value as [asn1js.Sequence, asn1js.Sequence, asn1js.BitString];
  return verify('sha256', Buffer.from(tbs.toBER()), cert.publicKey, Buffer.from(sig.valueBlock.valueHexView));
}

test('CRLs have the shape of Intel\'s (CRL Number, AKI, keyCompromise entries) and verify', needsShared('fixtures/dcap'), async () => {
  const real = fixtureCollateral('S1-dcapqvl-sgx-v3');
  const at = new Date();
  const rootCrl = await pki.rootCrl({}, at);
  const pckCrl = await pki.pckCrl('processor', {}, at);
  assert.deepEqual(skeleton(rootCrl), skeleton(Buffer.from(real['root_ca_crl']!, 'hex')));
  assert.deepEqual(skeleton(pckCrl), skeleton(Buffer.from(real['pck_crl']!, 'hex')));
  assert.ok(crlSignedBy(rootCrl, new X509Certificate(pki.root.der)));
  assert.ok(crlSignedBy(pckCrl, new X509Certificate(pki.processorCa.der)));
  assert.ok(!crlSignedBy(pckCrl, new X509Certificate(pki.platformCa.der)));
  // A revoked entry looks like the entries of Intel's Platform CA CRL.
  const p = await pki.platform({ ca: 'platform' });
  const withEntry = await pki.pckCrl('platform', { revoked: [p.serialNumber] }, at);
  const realPlat = Buffer.from(fixtureCollateral('S5a-automata-sgx-v3-tcbinfo-v3')['pck_crl']!, 'hex');
  const entryShape = (der: Buffer) => {
    // revokedCertificates: the SEQUENCE after thisUpdate/nextUpdate; its first entry is the next 6 lines.
    const s = skeleton(der);
    const times = s.flatMap((l, k) => (l === '  UTCTime 1:23' ? [k] : []));
    const i = (times[1] ?? -3) + 2;
    assert.ok(i > 1 && s[i] === '   Sequence 1:16', 'first revoked entry found');
    return s.slice(i, i + 7);
  };
  assert.deepEqual(entryShape(withEntry), entryShape(realPlat));
  assert.ok(withEntry.includes(Buffer.from(p.serialNumber, 'hex')));
  // Signed by the wrong CA on request.
  const wrong = await pki.pckCrl('processor', { signingKey: pki.platformCa.privateKey }, at);
  assert.ok(!crlSignedBy(wrong, new X509Certificate(pki.processorCa.der)));
  assert.ok(crlSignedBy(wrong, new X509Certificate(pki.platformCa.der)));
});

test('certificate fields can be overridden: expired, not yet valid, wrong signer, other serial', async () => {
  const past = new Date('2020-01-01T00:00:00Z');
  const expired = await pki.reissue('processor', { notBefore: new Date('2019-01-01T00:00:00Z'), notAfter: past });
  assert.equal(new Date(new X509Certificate(expired.processorCa.der).validTo).getTime(), past.getTime());
  assert.equal(expired.processorCa.keyId, pki.processorCa.keyId, 're-issue keeps the key');
  assert.equal(expired.root, pki.root);
  const future = new Date(Date.now() + 86_400_000 * 10);
  const leaf = await pki.platform({ leaf: { notBefore: future } });
  assert.ok(new Date(new X509Certificate(leaf.leafDer).validFrom).getTime() >= future.getTime() - 1000);
  const forged = await pki.platform({ leaf: { signingKey: newP256Key(), serialNumber: '0badc0de' } });
  const f = new X509Certificate(forged.leafDer);
  assert.equal(f.serialNumber.toLowerCase(), '0badc0de');
  assert.ok(!f.verify(new X509Certificate(pki.processorCa.der).publicKey));
  const renamed = await pki.reissue('tcbSigning', { subjectCn: 'Intel SGX Something Else' });
  assert.match(new X509Certificate(renamed.tcbSigning.der).subject, /^CN=Intel SGX Something Else\n/);
});

test('an attacker PKI has Intel\'s names but other keys', async () => {
  const attacker = await SimPki.create();
  const a = new X509Certificate(attacker.root.der);
  const r = new X509Certificate(pki.root.der);
  assert.equal(a.subject, r.subject);
  assert.ok(!a.publicKey.equals(r.publicKey));
  assert.ok(!new X509Certificate(attacker.processorCa.der).verify(r.publicKey));
});

test('the PKI round-trips through JSON (with private keys) and rejects bad JSON', async () => {
  const json = JSON.parse(JSON.stringify(pki.toJSON())) as Record<string, unknown>;
  const back = SimPki.fromJSON(json);
  for (const role of ['root', 'processorCa', 'platformCa', 'tcbSigning'] as const) {
    assert.equal(back[role].pem, pki[role].pem);
    assert.ok(createPublicKey(back[role].privateKey).equals(createPublicKey(pki[role].privateKey)));
  }
  // A platform from the reloaded PKI chains to the same root.
  const p = await back.platform();
  assert.ok(new X509Certificate(p.leafDer).verify(new X509Certificate(pki.processorCa.der).publicKey));
  assert.throws(() => SimPki.fromJSON(null), SimPkiFormatError);
  assert.throws(() => SimPki.fromJSON({ ...json, version: 2 }), SimPkiFormatError);
  assert.throws(() => SimPki.fromJSON({ ...json, root: { certificate: 'x' } }), SimPkiFormatError);
  const swapped = { ...json, root: { ...(json['root'] as object), privateKey: (json['tcbSigning'] as { privateKey: string }).privateKey } };
  assert.throws(() => SimPki.fromJSON(swapped), /do not match/);
});
