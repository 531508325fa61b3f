// One collateral item (TCB Info, QE Identity, a CRL) as received, and how its bytes are read.
import type { Collateral, PckCaKind, TeeType } from '../dcap/types.ts';
import { CrlError, normaliseCrl } from '../dcap/crl.ts';
import { fail } from '../dcap/errors.ts';
import { signatureHexField, splitSignedBody } from '../dcap/signed-json.ts';

/** SGX TCB Info and QE identity, their TDX counterparts (TDX TCB Info, TD_QE identity), and the CRLs both share. */
export const ITEM_KINDS = ['tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl', 'tdx_tcb_info', 'td_qe_identity'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/** What an item is for: FMSPC (lower-case hex) for (TDX) TCB Info, CA kind for a PCK CRL, '' otherwise. */
export interface ItemId {
  kind: ItemKind;
  key: string;
}

export interface CollateralItem extends ItemId {
  /** The response body exactly as the source sent it. */
  raw: Buffer;
  /** PEM issuer chain from the response header, signer first ('' for the root CA CRL). */
  issuerChain: string;
  /** The URL the item came from. */
  source: string;
  fetchedAt: Date;
  /** issueDate of signed JSON, thisUpdate of a CRL. */
  issueDate: Date;
  nextUpdate: Date;
}

/** An FMSPC that is not 12 hex digits (a caller's input: the CLI reports it as a usage error). */
export class ItemFormatError extends Error {
  override name = 'ItemFormatError';
}

export function isItemKind(s: unknown): s is ItemKind {
  return typeof s === 'string' && (ITEM_KINDS as readonly string[]).includes(s);
}

export function normaliseFmspc(fmspc: string): string {
  if (!/^[0-9a-fA-F]{12}$/.test(fmspc)) throw new ItemFormatError(`FMSPC must be 12 hex digits, got '${fmspc.slice(0, 40)}'`);
  return fmspc.toLowerCase();
}

export function isCaKind(s: unknown): s is PckCaKind {
  return s === 'processor' || s === 'platform';
}

/** Human name of an item, used in errors and logs: "TCB Info for FMSPC 00a067110000". */
export function describeItem(id: ItemId): string {
  switch (id.kind) {
    case 'tcb_info':
      return `TCB Info for FMSPC ${id.key}`;
    case 'qe_identity':
      return 'QE Identity';
    case 'tdx_tcb_info':
      return `TDX TCB Info for FMSPC ${id.key}`;
    case 'td_qe_identity':
      return 'TD QE Identity';
    case 'pck_crl':
      return `PCK CRL (${id.key} CA)`;
    case 'root_ca_crl':
      return 'Root CA CRL';
  }
}

/** Whether the item is TCB Info (SGX or TDX): keyed by FMSPC. */
export function isTcbInfoKind(kind: ItemKind): kind is 'tcb_info' | 'tdx_tcb_info' {
  return kind === 'tcb_info' || kind === 'tdx_tcb_info';
}

/** The four items a quote of this TEE, platform and PCK CA needs: TCB Info, QE identity, PCK CRL, root CA CRL. */
export function itemIdsFor(fmspc: string, ca: PckCaKind, tee: TeeType = 'SGX'): ItemId[] {
  return [
    { kind: tee === 'TDX' ? 'tdx_tcb_info' : 'tcb_info', key: normaliseFmspc(fmspc) },
    { kind: tee === 'TDX' ? 'td_qe_identity' : 'qe_identity', key: '' },
    { kind: 'pck_crl', key: ca },
    { kind: 'root_ca_crl', key: '' },
  ];
}

const SIGNED_FIELD = { tcb_info: 'tcbInfo', qe_identity: 'enclaveIdentity', tdx_tcb_info: 'tcbInfo', td_qe_identity: 'enclaveIdentity' } as const;
type SignedKind = keyof typeof SIGNED_FIELD;

/**
 * The exact text of the signed object of a PCS/PCCS response (`{"tcbInfo":{...},"signature":"<hex>"}`)
 * and its signature, by dcap's one splitter. Throws VerificationError('malformed_collateral').
 */
export function signedParts(raw: Buffer, kind: SignedKind): { text: string; signature: Buffer } {
  const field = SIGNED_FIELD[kind];
  const { signed, signature } = splitSignedBody(raw.toString('utf8'), field);
  if (signature === null) fail('malformed_collateral', `${field === 'tcbInfo' ? 'TCB Info' : 'QE Identity'} response has no '${field}' object with a signature`);
  return { text: signed, signature: signatureHexField(signature, `${kind} signature`) };
}

/** The CRL bytes of a CRL item as DER, whichever form (DER, PEM, hex text) the source used. Throws VerificationError('malformed_collateral'). */
export function crlDer(item: Pick<CollateralItem, 'raw'>): Buffer {
  try {
    return normaliseCrl(item.raw);
  } catch (e) {
    if (!(e instanceof CrlError)) throw e;
    fail('malformed_collateral', e.message);
  }
}

/** Puts the four items one quote needs into the verifier's Collateral shape. */
export function toCollateral(items: { tcbInfo: CollateralItem; qeIdentity: CollateralItem; pckCrl: CollateralItem; rootCaCrl: CollateralItem }): Collateral {
  const tcb = signedParts(items.tcbInfo.raw, items.tcbInfo.kind === 'tdx_tcb_info' ? 'tdx_tcb_info' : 'tcb_info');
  const qe = signedParts(items.qeIdentity.raw, items.qeIdentity.kind === 'td_qe_identity' ? 'td_qe_identity' : 'qe_identity');
  // Frozen: the verifier prepares each collateral object once (see the contract on Collateral in dcap/types.ts).
  return Object.freeze({
    pckCrlIssuerChain: items.pckCrl.issuerChain,
    rootCaCrl: crlDer(items.rootCaCrl),
    pckCrl: crlDer(items.pckCrl),
    tcbInfoIssuerChain: items.tcbInfo.issuerChain,
    tcbInfo: tcb.text,
    tcbInfoSignature: tcb.signature,
    qeIdentityIssuerChain: items.qeIdentity.issuerChain,
    qeIdentity: qe.text,
    qeIdentitySignature: qe.signature,
  });
}
