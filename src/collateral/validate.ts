// Checks one collateral item before it is trusted, with the verifier's own checks (src/dcap/checks.ts):
// its issuer chain (in issuing order, whatever order it came in) to the pinned root with the same CN
// rules, its signature over the exact bytes, that it is the item asked for, and (optionally) the same
// time rule. An item the cache accepts is therefore one verifyQuote accepts, and the other way round.
import {
  certValidity,
  checkCrlIssuedBy,
  checkPckCrlIssuerChain,
  checkSignedJson,
  checkSigningChain,
  checkValidityAt,
  crlValidity,
  isValidAt,
  loadCrl,
  signedJsonValidity,
  trustedRootOf,
  type Validity,
} from '../dcap/checks.ts';
import { VerificationError, fail } from '../dcap/errors.ts';
import { parseQeIdentity } from '../dcap/qe-identity.ts';
import { parseTcbInfo } from '../dcap/tcb-info.ts';
import type { Certificate } from '../dcap/x509.ts';
import { SourceError } from './errors.ts';
import { crlDer, describeItem, signedParts, type ItemId } from './item.ts';

/** The pinned root certificate every chain must lead to (by its key, as the verifier pins it). */
export type TrustAnchor = Certificate;

export const INTEL_ROOT_ANCHOR: TrustAnchor = trustedRootOf();

/** An anchor from a root certificate (PEM text, PEM bytes or DER). */
export function anchorFromRoot(root: string | Buffer): TrustAnchor {
  return trustedRootOf(root);
}

export interface ValidatedItem {
  issueDate: Date;
  nextUpdate: Date;
}

/** The dcap checks of one item; returns its dates and everything whose validity the time rule covers. */
function checkItem(id: ItemId, raw: Buffer, issuerChain: string, anchor: TrustAnchor, what: string): { dates: ValidatedItem; validity: Validity[] } {
  switch (id.kind) {
    case 'tcb_info':
    case 'tdx_tcb_info': {
      const { text, signature } = signedParts(raw, id.kind);
      const [signer, root] = checkSigningChain(issuerChain, anchor, what);
      const info = checkSignedJson(text, signature, signer, what, parseTcbInfo);
      const want = id.kind === 'tdx_tcb_info' ? 'TDX' : 'SGX';
      if ((info.id ?? 'SGX') !== want) fail('tcb_info_mismatch', `${what} is TCB Info for ${info.id ?? `SGX (v${info.version})`}, not ${want}`);
      if (info.fmspc !== id.key) fail('tcb_info_mismatch', `${what} holds TCB Info for FMSPC ${info.fmspc}`);
      return { dates: info, validity: [certValidity(signer, what), certValidity(root, what), signedJsonValidity(info, what)] };
    }
    case 'qe_identity':
    case 'td_qe_identity': {
      const { text, signature } = signedParts(raw, id.kind);
      const [signer, root] = checkSigningChain(issuerChain, anchor, what);
      const qe = checkSignedJson(text, signature, signer, what, parseQeIdentity);
      const want = id.kind === 'td_qe_identity' ? 'TD_QE' : 'QE';
      if (qe.id !== want) fail('qe_identity_mismatch', `${what} is the identity of '${qe.id.slice(0, 16)}', not ${want}`);
      return { dates: qe, validity: [certValidity(signer, what), certValidity(root, what), signedJsonValidity(qe, what)] };
    }
    case 'pck_crl': {
      const crl = loadCrl(crlDer({ raw }), what);
      const { ca, root, kind } = checkPckCrlIssuerChain(issuerChain, anchor, what);
      if (kind !== id.key) fail('crl_mismatch', `${what}: its issuer chain is for the ${kind} CA`);
      checkCrlIssuedBy(crl, ca, what);
      const v = crlValidity(crl, what);
      return { dates: { issueDate: v.from, nextUpdate: v.until }, validity: [certValidity(ca, what), certValidity(root, what), v] };
    }
    case 'root_ca_crl': {
      const crl = loadCrl(crlDer({ raw }), what);
      checkCrlIssuedBy(crl, anchor, what);
      const v = crlValidity(crl, what);
      return { dates: { issueDate: v.from, nextUpdate: v.until }, validity: [certValidity(anchor, what), v] };
    }
  }
}

/**
 * Validates `raw` (+ its issuer chain) as the item `id`. With `at`, also requires the item and its chain
 * to be valid at that time. Throws SourceError carrying the verifier's code.
 */
export function validateItem(id: ItemId, raw: Buffer, issuerChain: string, anchor: TrustAnchor, at?: Date): ValidatedItem {
  const what = describeItem(id);
  try {
    const { dates, validity } = checkItem(id, raw, issuerChain, anchor, what);
    if (at) checkValidityAt(at, validity);
    return { issueDate: dates.issueDate, nextUpdate: dates.nextUpdate };
  } catch (e) {
    if (e instanceof VerificationError) throw new SourceError(e.code, e.message.startsWith(what) ? e.message : `${what}: ${e.message}`);
    throw e;
  }
}

/** Whether a stored item may be used at `at`: the verifier's time rule (dates were validated when it was stored). */
export function isUsableAt(item: ValidatedItem, at: Date): boolean {
  return isValidAt(at, { from: item.issueDate, until: item.nextUpdate });
}
