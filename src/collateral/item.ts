// One collateral item (TCB Info, QE Identity, a CRL) as received, and how its bytes are read.
import type { Collateral, PckCaKind } from '../dcap/types.ts';
import { normaliseCrl } from '../dcap/crl.ts';
import { topLevelMembers } from '../dcap/signed-json.ts';

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

export interface SignedJson {
  /** The signed object's text exactly as served (the bytes the signature covers). */
  text: string;
  signature: Buffer;
  /** The signed object, parsed. */
  body: Record<string, unknown>;
}

/**
 * Splits `{"tcbInfo":{...},"signature":"<hex>"}` into the exact text of the signed object and the
 * signature. The object text is sliced from the body, never re-serialised: the signature covers
 * the bytes as Intel served them.
 */
export function splitSignedJson(raw: Buffer, kind: 'tcb_info' | 'qe_identity'): SignedJson {
  const field = SIGNED_FIELD[kind];
  const text = raw.toString('utf8');
  let members: Map<string, string>;
  try {
    members = topLevelMembers(text);
  } catch {
    throw new ItemFormatError(`${kind} body is not a JSON object`);
  }
  const inner = members.get(field);
  const sig = members.get('signature');
  const body = inner === undefined ? undefined : (JSON.parse(inner) as unknown);
  const sigHex = sig === undefined ? undefined : (JSON.parse(sig) as unknown);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ItemFormatError(`${kind} body has no '${field}' object`);
  if (typeof sigHex !== 'string' || !/^[0-9a-fA-F]{128}$/.test(sigHex)) throw new ItemFormatError(`${kind} signature is not 64 bytes of hex`);
  return { text: inner!, signature: Buffer.from(sigHex, 'hex'), body: body as Record<string, unknown> };
}

/** The CRL bytes of a CRL item as DER, whichever form (DER, PEM, hex text) the source used. */
export function crlDer(item: Pick<CollateralItem, 'raw'>): Buffer {
  try {
    return normaliseCrl(item.raw);
  } catch (e) {
    throw new ItemFormatError((e as Error).message);
  }
}

/** Puts the four items one quote needs into the verifier's Collateral shape. */
export function toCollateral(items: { tcbInfo: CollateralItem; qeIdentity: CollateralItem; pckCrl: CollateralItem; rootCaCrl: CollateralItem }): Collateral {
  const tcb = splitSignedJson(items.tcbInfo.raw, 'tcb_info');
  const qe = splitSignedJson(items.qeIdentity.raw, 'qe_identity');
  return {
    pckCrlIssuerChain: items.pckCrl.issuerChain,
    rootCaCrl: crlDer(items.rootCaCrl),
    pckCrl: crlDer(items.pckCrl),
    tcbInfoIssuerChain: items.tcbInfo.issuerChain,
    tcbInfo: tcb.text,
    tcbInfoSignature: tcb.signature,
    qeIdentityIssuerChain: items.qeIdentity.issuerChain,
    qeIdentity: qe.text,
    qeIdentitySignature: qe.signature,
  };
}
