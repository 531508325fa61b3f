// Certificates and CRLs shaped like Intel's: same DN encoding, extension set and order, serial/key-id habits.
import 'reflect-metadata';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  CRLDistributionPointsExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  X509CrlGenerator,
  X509CrlReason,
} from '@peculiar/x509';
import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ECDSA_SHA256, keyIdentifier, publicOf, toWebCryptoPrivate, toWebCryptoPublic } from './keys.ts';
import { intelName } from './intel-names.ts';

export { Extension, Name };

export type CaRole = 'root' | 'processor' | 'platform' | 'tcbSigning';

/** A CA (or the TCB Signing certificate) of the sim PKI, with its private key. */
export interface SimCa {
  role: CaRole;
  der: Buffer;
  pem: string;
  privateKey: KeyObject;
  /** Subject key identifier, lower-case hex. */
  keyId: string;
  /** Subject CN. */
  cn: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

/** Everything a test may change about one certificate. Unset fields take Intel's conventions. */
export interface CertOverrides {
  serialNumber?: string; // hex
  notBefore?: Date;
  notAfter?: Date;
  subjectCn?: string;
  issuerCn?: string;
  /** The key the certificate certifies (default: a fresh key, or the existing one on re-issue). */
  privateKey?: KeyObject;
  /** Sign with this key instead of the issuer's (a certificate "signed by the wrong CA"). */
  signingKey?: KeyObject;
  /** Authority key identifier to write (hex), default the issuer's key id. */
  authorityKeyId?: string;
  /** Edit the extension list Intel's layout would give. */
  extensions?: (defaults: Extension[]) => Extension[];
}

export interface CertSpec {
  subject: Name;
  issuer: Name;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  extensions: Extension[];
}

export async function issueCertificate(spec: CertSpec): Promise<Buffer> {
  const cert = await X509CertificateGenerator.create({
    serialNumber: spec.serialNumber,
    subject: spec.subject,
    issuer: spec.issuer,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: await toWebCryptoPublic(publicOf(spec.publicKey)),
    signingKey: await toWebCryptoPrivate(spec.signingKey),
    signingAlgorithm: ECDSA_SHA256,
    extensions: spec.extensions,
  });
  return Buffer.from(cert.rawData);
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A 20-byte serial like Intel's leaves: random, high bit allowed (DER then adds a leading zero). */
export function randomSerial(): string {
  const b = randomBytes(20);
  if (b[0] === 0) b[0] = 1; // keep the full 20 bytes
  return b.toString('hex');
}

/** Intel's extension order: AKI, CRL DP, SKI, Key Usage (critical), Basic Constraints (critical) [, SGX]. */
export function intelExtensions(o: {
  authorityKeyId: string;
  subjectKeyId: string;
  crlUrl: string;
  ca: boolean;
  pathLength?: number;
}): Extension[] {
  const usage = o.ca
    ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign
    : KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation;
  return [
    new AuthorityKeyIdentifierExtension(o.authorityKeyId),
    new CRLDistributionPointsExtension([o.crlUrl]),
    new SubjectKeyIdentifierExtension(o.subjectKeyId),
    new KeyUsagesExtension(usage, true),
    new BasicConstraintsExtension(o.ca, o.ca ? o.pathLength : undefined, true),
  ];
}

/** Issue a certificate for `role` under `issuer` (or self-signed when issuer is undefined). */
export async function issueIntelCert(o: {
  cn: string;
  issuer: { cn: string; keyId: string; privateKey: KeyObject } | undefined;
  privateKey: KeyObject;
  serialNumber?: string;
  notBefore: Date;
  notAfter: Date;
  crlUrl: string;
  ca: boolean;
  pathLength?: number;
  extraExtensions?: Extension[];
  overrides?: CertOverrides;
}): Promise<{ der: Buffer; keyId: string; serialNumber: string }> {
  const ov = o.overrides ?? {};
  const key = o.privateKey;
  const keyId = keyIdentifier(key).toString('hex');
  const issuerCn = ov.issuerCn ?? o.issuer?.cn ?? ov.subjectCn ?? o.cn;
  const issuerKeyId = o.issuer?.keyId ?? keyId;
  const serialNumber = ov.serialNumber ?? o.serialNumber ?? keyId;
  let extensions = [
    ...intelExtensions({
      authorityKeyId: ov.authorityKeyId ?? issuerKeyId,
      subjectKeyId: keyId,
      crlUrl: o.crlUrl,
      ca: o.ca,
      ...(o.pathLength !== undefined ? { pathLength: o.pathLength } : {}),
    }),
    ...(o.extraExtensions ?? []),
  ];
  if (ov.extensions) extensions = ov.extensions(extensions);
  const der = await issueCertificate({
    subject: intelName(ov.subjectCn ?? o.cn),
    issuer: intelName(issuerCn),
    serialNumber,
    notBefore: ov.notBefore ?? o.notBefore,
    notAfter: ov.notAfter ?? o.notAfter,
    publicKey: key,
    signingKey: ov.signingKey ?? o.issuer?.privateKey ?? key,
    extensions,
  });
  return { der, keyId, serialNumber };
}

export function simCaFrom(role: CaRole, der: Buffer, privateKey: KeyObject): SimCa {
  const cert = new X509Certificate(der);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
  return {
    role,
    der,
    pem: derToPem(der),
    privateKey,
    keyId: keyIdentifier(privateKey).toString('hex'),
    cn,
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

/** One revoked certificate in a CRL. */
export interface RevokedEntry {
  serialNumber: string; // hex
  revocationDate?: Date;
  reason?: X509CrlReason;
}

/** Everything a test may change about one CRL. */
export interface CrlOverrides {
  thisUpdate?: Date;
  nextUpdate?: Date;
  crlNumber?: number;
  /** Serials (hex) or entries to list as revoked. */
  revoked?: (string | RevokedEntry)[];
  /** Sign with this key instead of the issuer's. */
  signingKey?: KeyObject;
  /** Issuer CN to write instead of the issuer's. */
  issuerCn?: string;
  authorityKeyId?: string;
  omitCrlNumber?: boolean;
  omitAuthorityKeyId?: boolean;
}

export async function issueIntelCrl(
  issuer: { cn: string; keyId: string; privateKey: KeyObject },
  defaults: { thisUpdate: Date; nextUpdate: Date },
  ov: CrlOverrides = {},
): Promise<Buffer> {
  const thisUpdate = ov.thisUpdate ?? defaults.thisUpdate;
  const extensions: Extension[] = [];
  if (!ov.omitCrlNumber) {
    extensions.push(new Extension('2.5.29.20', false, new asn1js.Integer({ value: ov.crlNumber ?? 1 }).toBER()));
  }
  if (!ov.omitAuthorityKeyId) extensions.push(new AuthorityKeyIdentifierExtension(ov.authorityKeyId ?? issuer.keyId));
  const crl = await X509CrlGenerator.create({
    issuer: intelName(ov.issuerCn ?? issuer.cn),
    thisUpdate,
    nextUpdate: ov.nextUpdate ?? defaults.nextUpdate,
    signingAlgorithm: ECDSA_SHA256,
    signingKey: await toWebCryptoPrivate(ov.signingKey ?? issuer.privateKey),
    extensions,
    entries: (ov.revoked ?? []).map((r) => {
      const e = typeof r === 'string' ? { serialNumber: r } : r;
      return {
        serialNumber: e.serialNumber,
        revocationDate: e.revocationDate ?? thisUpdate,
        reason: e.reason ?? X509CrlReason.keyCompromise,
      };
    }),
  });
  return Buffer.from(crl.rawData);
}
