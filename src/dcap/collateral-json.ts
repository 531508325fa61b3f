// Collateral in dcap-qvl's QuoteCollateralV3 JSON shape (as in the shared fixtures), plus the
// variants real tools emit: PEM CRLs, and whole PCS response bodies for tcb_info / qe_identity.
import { normaliseCrl, CrlError } from './crl.ts';
import { fail } from './errors.ts';
import { signatureHexField, splitSignedBody, topLevelMembers } from './signed-json.ts';
import type { Collateral } from './types.ts';

function str(doc: Record<string, unknown>, field: string, optional = false): string {
  const v = doc[field];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') fail('malformed_collateral', `collateral field ${field} must be a string`);
  return v;
}

/** dcap-qvl's JS binding may carry byte fields as arrays of numbers instead of hex. */
function byteArray(v: unknown): Buffer | null {
  if (!Array.isArray(v)) return null;
  if (!v.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)) return null;
  return Buffer.from(v as number[]);
}

function crlField(doc: Record<string, unknown>, field: string): Buffer {
  const bytes = byteArray(doc[field]);
  if (bytes) return bytes;
  try {
    return normaliseCrl(str(doc, field));
  } catch (e) {
    if (e instanceof CrlError) fail('malformed_collateral', `collateral field ${field}: ${e.message}`);
    throw e;
  }
}

function signedItem(
  doc: Record<string, unknown>,
  field: 'tcb_info' | 'qe_identity',
  member: 'tcbInfo' | 'enclaveIdentity',
  rawText: (field: string) => string | undefined,
): { text: string; signature: Buffer } {
  const value = doc[field];
  // Given as a JSON object (a PCS body pasted in): its exact bytes are those of the file, sliced, never
  // re-serialised; a re-formatted file then fails the signature check, as it must.
  const raw = typeof value === 'object' && value !== null && !Array.isArray(value) ? rawText(field) : value;
  if (typeof raw !== 'string') fail('malformed_collateral', `collateral field ${field} must be the exact signed JSON text (a string, or the PCS response object as served)`);
  const { signed, signature } = splitSignedBody(raw, member);
  const separate = doc[`${field}_signature`];
  const separateBytes = byteArray(separate);
  if (separateBytes) return { text: signed, signature: signatureHexField(separateBytes.toString('hex'), `${field}_signature`) };
  const sig = typeof separate === 'string' && separate !== '' ? separate : signature;
  return { text: signed, signature: signatureHexField(sig, `${field}_signature`) };
}

export function parseCollateralJson(text: string): Collateral {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('malformed_collateral', `collateral is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('malformed_collateral', 'collateral must be a JSON object');
  const d = doc as Record<string, unknown>;
  let members: Map<string, string> | undefined;
  const rawText = (field: string) => (members ??= topLevelMembers(text)).get(field);
  const tcb = signedItem(d, 'tcb_info', 'tcbInfo', rawText);
  const qe = signedItem(d, 'qe_identity', 'enclaveIdentity', rawText);
  const collateral: Collateral = {
    pckCrlIssuerChain: str(d, 'pck_crl_issuer_chain', true),
    rootCaCrl: crlField(d, 'root_ca_crl'),
    pckCrl: crlField(d, 'pck_crl'),
    tcbInfoIssuerChain: str(d, 'tcb_info_issuer_chain'),
    tcbInfo: tcb.text,
    tcbInfoSignature: tcb.signature,
    qeIdentityIssuerChain: str(d, 'qe_identity_issuer_chain'),
    qeIdentity: qe.text,
    qeIdentitySignature: qe.signature,
  };
  const pck = d.pck_certificate_chain;
  if (pck !== undefined && pck !== null) {
    if (typeof pck !== 'string') fail('malformed_collateral', 'collateral field pck_certificate_chain must be a PEM string');
    collateral.pckCertificateChain = pck;
  }
  // Frozen: the verifier prepares each collateral object once (the contract on Collateral in types.ts).
  return Object.freeze(collateral);
}

export function collateralToJson(c: Collateral): Record<string, unknown> {
  const out: Record<string, unknown> = {
    pck_crl_issuer_chain: c.pckCrlIssuerChain,
    root_ca_crl: c.rootCaCrl.toString('hex'),
    pck_crl: c.pckCrl.toString('hex'),
    tcb_info_issuer_chain: c.tcbInfoIssuerChain,
    tcb_info: c.tcbInfo,
    tcb_info_signature: c.tcbInfoSignature.toString('hex'),
    qe_identity_issuer_chain: c.qeIdentityIssuerChain,
    qe_identity: c.qeIdentity,
    qe_identity_signature: c.qeIdentitySignature.toString('hex'),
  };
  if (c.pckCertificateChain) out.pck_certificate_chain = c.pckCertificateChain;
  return out;
}
