// One collateral item (TCB Info, QE Identity, a CRL) as received, and how its bytes are read.
import type { Collateral, PckCaKind } from '../dcap/types.ts';
import { CrlError, normaliseCrl } from '../dcap/crl.ts';
import { fail } from '../dcap/errors.ts';
import { signatureHexField, splitSignedBody } from '../dcap/signed-json.ts';

export const ITEM_KINDS = ['tcb_info', 'qe_identity', 'pck_crl', 'root_ca_crl'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/** What an item is for: FMSPC (lower-case hex) for TCB Info, CA kind for a PCK CRL, '' otherwise. */
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
    case 'pck_crl':
      return `PCK CRL (${id.key} CA)`;
    case 'root_ca_crl':
      return 'Root CA CRL';
  }
}

export function itemIdsFor(fmspc: string, ca: PckCaKind): ItemId[] {
  return [
    { kind: 'tcb_info', key: normaliseFmspc(fmspc) },
    { kind: 'qe_identity', key: '' },
    { kind: 'pck_crl', key: ca },
    { kind: 'root_ca_crl', key: '' },
  ];
}

const SIGNED_FIELD = { tcb_info: 'tcbInfo', qe_identity: 'enclaveIdentity' } as const;

/**
 * The exact text of the signed object of a PCS/PCCS response (`{"tcbInfo":{...},"signature":"<hex>"}`)
 * and its signature, by dcap's one splitter. Throws VerificationError('malformed_collateral').
 */
export function signedParts(raw: Buffer, kind: 'tcb_info' | 'qe_identity'): { text: string; signature: Buffer } {
  const field = SIGNED_FIELD[kind];
  const { signed, signature } = splitSignedBody(raw.toString('utf8'), field);
  if (signature === null) fail('malformed_collateral', `${kind === 'tcb_info' ? 'TCB Info' : 'QE Identity'} response has no '${field}' object with a signature`);
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
  const tcb = signedParts(items.tcbInfo.raw, 'tcb_info');
  const qe = signedParts(items.qeIdentity.raw, 'qe_identity');
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
