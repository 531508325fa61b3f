// Checks one collateral item before it is trusted: signature chain to the pinned root, signature,
// that it is the item asked for, and (optionally) that it is valid at a given time.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parseCrl, isCrlSignedBy, type Crl } from '../dcap/crl.ts';
import { OID_ECDSA_WITH_SHA256, isSignedBy, parsePemChain, parseRoot, safeVerify, type Certificate } from '../dcap/x509.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../dcap/intel-root.ts';
import { SourceError } from './errors.ts';
import { crlDer, splitSignedJson, describeItem, type ItemId } from './item.ts';

/** The root every chain must lead to, pinned by its public key (intermediates get re-issued). */
export interface TrustAnchor {
  /** Uncompressed EC point, 65 bytes. */
  publicKeyRaw: Buffer;
  publicKey: KeyObject;
  /** Subject DN of the root certificate, when the anchor was given as a certificate. */
  subject?: string;
}

export const INTEL_ROOT_ANCHOR: TrustAnchor = anchorFromRoot(INTEL_SGX_ROOT_CA_PEM);

export function anchorFromKey(raw: Buffer): TrustAnchor {
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
  return { publicKeyRaw: Buffer.from(raw), publicKey };
}

/** An anchor from a root certificate (PEM text, PEM bytes or DER). */
export function anchorFromRoot(root: string | Buffer): TrustAnchor {
  const cert = parseRoot(root);
  return { publicKeyRaw: cert.publicKeyRaw, publicKey: cert.publicKey, subject: cert.subject };
}

export function isIntelAnchor(a: TrustAnchor): boolean {
  return a.publicKeyRaw.equals(INTEL_ROOT_ANCHOR.publicKeyRaw);
}

export interface ValidatedItem {
  issueDate: Date;
  nextUpdate: Date;
}

/** Clock skew tolerated between a source and us on issue dates only (expiry is never stretched). */
const ISSUE_SKEW_MS = 5 * 60_000;

/**
 * Validates `raw` (+ its issuer chain) as the item `id`. Throws SourceError with the reason.
 * With `at`, also requires the item and its chain to be valid at that time.
 */
export function validateItem(id: ItemId, raw: Buffer, issuerChain: string, anchor: TrustAnchor, at?: Date): ValidatedItem {
  const what = describeItem(id);
  let dates: ValidatedItem;
  let chain: Certificate[] = [];
  try {
    switch (id.kind) {
      case 'tcb_info':
      case 'qe_identity': {
        const signed = splitSignedJson(raw, id.kind);
        chain = signingChain(issuerChain, anchor, what);
        if (!safeVerify(Buffer.from(signed.text, 'utf8'), chain[0]!.publicKey, signed.signature, 'ieee-p1363'))
          throw new SourceError('bad_signature', `${what}: signature does not verify`);
        dates = checkSignedBody(id, signed.body, what);
        break;
      }
      case 'pck_crl': {
        const crl = readCrl(raw, what);
        chain = signingChain(issuerChain, anchor, what);
        const ca = chain[0]!;
        if (!ca.subjectCn.toLowerCase().includes(id.key)) throw new SourceError('wrong_item', `${what}: issuer chain is for '${ca.subjectCn}'`);
        if (crl.issuer !== ca.subject) throw new SourceError('wrong_item', `${what}: CRL issuer is not the CA of its issuer chain`);
        if (!isCrlSignedBy(crl, ca)) throw new SourceError('bad_signature', `${what}: CRL signature does not verify`);
        dates = crlDates(crl, what);
        break;
      }
      case 'root_ca_crl': {
        const crl = readCrl(raw, what);
        if (anchor.subject !== undefined && crl.issuer !== anchor.subject) throw new SourceError('wrong_item', `${what}: not issued by the trusted root`);
        if (crl.signatureAlgorithm !== OID_ECDSA_WITH_SHA256 || !safeVerify(crl.tbs, anchor.publicKey, crl.signature, 'der'))
          throw new SourceError('bad_signature', `${what}: CRL is not signed by the trusted root`);
        dates = crlDates(crl, what);
        break;
      }
    }
  } catch (e) {
    if (e instanceof SourceError) throw e;
    throw new SourceError('malformed', `${what}: ${(e as Error).message}`);
  }
  if (at) checkTime(dates, chain, at, what);
  return dates;
}

function readCrl(raw: Buffer, what: string): Crl {
  try {
    return parseCrl(crlDer({ raw }));
  } catch (e) {
    throw new SourceError('malformed', `${what}: ${(e as Error).message}`);
  }
}

/** Issuer chains of signed collateral are exactly [signer, root], the root being the pinned one. */
function signingChain(pem: string, anchor: TrustAnchor, what: string): Certificate[] {
  if (!pem) throw new SourceError('malformed', `${what}: no issuer chain`);
  const chain = parsePemChain(pem);
  if (chain.length !== 2) throw new SourceError('malformed', `${what}: issuer chain has ${chain.length} certificates, expected 2`);
  const [signer, root] = chain as [Certificate, Certificate];
  if (!root.publicKeyRaw.equals(anchor.publicKeyRaw)) throw new SourceError('untrusted_root', `${what}: issuer chain does not lead to the trusted root`);
  if (signer.issuer !== root.subject || !isSignedBy(signer, root))
    throw new SourceError('bad_signature', `${what}: '${signer.subjectCn}' is not signed by the trusted root`);
  return chain;
}

function checkSignedBody(id: ItemId, body: Record<string, unknown>, what: string): ValidatedItem {
  const version = body.version;
  const issueDate = isoDate(body.issueDate, 'issueDate', what);
  const nextUpdate = isoDate(body.nextUpdate, 'nextUpdate', what);
  if (id.kind === 'tcb_info') {
    if (version !== 2 && version !== 3) throw new SourceError('malformed', `${what}: unsupported version ${String(version)}`);
    if (body.id !== undefined && body.id !== 'SGX') throw new SourceError('wrong_item', `${what}: TCB Info is for ${String(body.id)}, not SGX`);
    if (typeof body.fmspc !== 'string' || body.fmspc.toLowerCase() !== id.key)
      throw new SourceError('wrong_item', `${what}: TCB Info is for FMSPC ${String(body.fmspc).slice(0, 16)}`);
  } else {
    if (version !== 2 && version !== 3) throw new SourceError('malformed', `${what}: unsupported version ${String(version)}`);
    if (body.id !== 'QE') throw new SourceError('wrong_item', `${what}: enclave identity is '${String(body.id).slice(0, 16)}', not QE`);
  }
  if (nextUpdate <= issueDate) throw new SourceError('malformed', `${what}: nextUpdate is not after issueDate`);
  return { issueDate, nextUpdate };
}

function isoDate(v: unknown, field: string, what: string): Date {
  // Intel writes ISO 8601 UTC ("2025-06-19T10:56:11Z"); anything else is refused rather than guessed.
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(v)) throw new SourceError('malformed', `${what}: ${field} is not an ISO 8601 UTC date`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new SourceError('malformed', `${what}: ${field} is not a date`);
  return d;
}

function crlDates(crl: Crl, what: string): ValidatedItem {
  if (!crl.nextUpdate) throw new SourceError('malformed', `${what}: CRL has no nextUpdate`);
  if (crl.nextUpdate <= crl.thisUpdate) throw new SourceError('malformed', `${what}: nextUpdate is not after thisUpdate`);
  return { issueDate: crl.thisUpdate, nextUpdate: crl.nextUpdate };
}

function checkTime(d: ValidatedItem, chain: Certificate[], at: Date, what: string): void {
  const t = at.getTime();
  if (t >= d.nextUpdate.getTime()) throw new SourceError('expired', `${what}: expired at ${d.nextUpdate.toISOString()}`);
  if (t + ISSUE_SKEW_MS < d.issueDate.getTime()) throw new SourceError('not_yet_valid', `${what}: issued in the future (${d.issueDate.toISOString()})`);
  for (const c of chain) {
    if (t > c.notAfter.getTime()) throw new SourceError('expired', `${what}: certificate '${c.subjectCn}' expired at ${c.notAfter.toISOString()}`);
    if (t + ISSUE_SKEW_MS < c.notBefore.getTime()) throw new SourceError('not_yet_valid', `${what}: certificate '${c.subjectCn}' is not valid yet`);
  }
}

/** Whether a stored item may be used at `at` (dates were validated when it was stored). */
export function isUsableAt(item: ValidatedItem, at: Date): boolean {
  const t = at.getTime();
  return t < item.nextUpdate.getTime() && t + ISSUE_SKEW_MS >= item.issueDate.getTime();
}
