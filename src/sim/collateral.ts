// Collateral for sim quotes: signed TCB Info and QE Identity, root and PCK CRLs, issuer chains.
import type { KeyObject } from 'node:crypto';
import type { Collateral, PckCaKind } from '../dcap/types.ts';
import type { CrlOverrides } from './certs.ts';
import { hexBytes, type SimPlatform } from './platform.ts';
import type { SimPki } from './pki.ts';
import { qeIdentityJson, tcbInfoJson, type QeIdentityOptions, type TcbInfoOptions } from './signed-json.ts';
import { DEFAULT_FMSPC } from './tcb-levels.ts';

export interface CollateralOptions {
  /** Time the collateral is fresh at (default now): issued a day before, valid for 30 days. */
  at?: Date;
  /** Take FMSPC, PCE-ID and CA kind from this platform. */
  platform?: SimPlatform;
  fmspc?: string | Buffer;
  ca?: PckCaKind;
  /** TDX collateral: TCB Info id "TDX" (with module identities) and the TD_QE identity (default SGX). */
  tee?: 'SGX' | 'TDX';
  tcbInfo?: TcbInfoOptions;
  /** Exact TCB Info text to sign instead of the generated one (tampering tests). */
  tcbInfoText?: string;
  /** Sign TCB Info with this key instead of TCB Signing's. */
  tcbInfoSigningKey?: KeyObject;
  /** Use this signature as is. */
  tcbInfoSignature?: Buffer;
  qeIdentity?: QeIdentityOptions;
  qeIdentityText?: string;
  qeIdentitySigningKey?: KeyObject;
  qeIdentitySignature?: Buffer;
  rootCrl?: CrlOverrides;
  pckCrl?: CrlOverrides;
  /** Which CA's CRL to put in (default the leaf's CA): a mismatch is a "wrong PCK CRL" test. */
  pckCrlCa?: PckCaKind;
  /** Override raw CRL bytes. */
  rootCrlDer?: Buffer;
  pckCrlDer?: Buffer;
  tcbInfoIssuerChain?: string;
  qeIdentityIssuerChain?: string;
  pckCrlIssuerChain?: string;
  /** Add `pckCertificateChain` (for quotes with certification data types 1-4): true = the platform's chain. */
  pckCertificateChain?: string | boolean;
}

export async function makeCollateral(pki: SimPki, o: CollateralOptions = {}): Promise<Collateral> {
  const at = o.at ?? new Date();
  const ca: PckCaKind = o.ca ?? o.platform?.ca ?? 'processor';
  const fmspc = o.platform?.fmspc ?? hexBytes(o.fmspc ?? DEFAULT_FMSPC, 6, 'FMSPC');
  const pceId = o.platform?.pceId ?? Buffer.from([0, 0]);
  const crlCa = o.pckCrlCa ?? ca;

  const tcbInfo =
    o.tcbInfoText ??
    tcbInfoJson(
      { fmspc: fmspc.toString('hex').toUpperCase(), pceId: pceId.toString('hex').toUpperCase(), ...(o.tee === 'TDX' ? { id: 'TDX' } : {}), ...o.tcbInfo },
      at,
    );
  const qeIdentity = o.qeIdentityText ?? qeIdentityJson(o.tee === 'TDX' ? { id: 'TD_QE', ...o.qeIdentity } : o.qeIdentity, at);
  const [rootCaCrl, pckCrl] = await Promise.all([
    o.rootCrlDer ?? pki.rootCrl(o.rootCrl, at),
    o.pckCrlDer ?? pki.pckCrl(crlCa, o.pckCrl, at),
  ]);
  const chain = o.pckCertificateChain === true ? o.platform?.chainPem : o.pckCertificateChain || undefined;
  return {
    pckCrlIssuerChain: o.pckCrlIssuerChain ?? pki.chain(crlCa),
    rootCaCrl,
    pckCrl,
    tcbInfoIssuerChain: o.tcbInfoIssuerChain ?? pki.chain('tcbSigning'),
    tcbInfo,
    tcbInfoSignature: o.tcbInfoSignature ?? pki.signJson(tcbInfo, o.tcbInfoSigningKey),
    qeIdentityIssuerChain: o.qeIdentityIssuerChain ?? pki.chain('tcbSigning'),
    qeIdentity,
    qeIdentitySignature: o.qeIdentitySignature ?? pki.signJson(qeIdentity, o.qeIdentitySigningKey),
    ...(chain ? { pckCertificateChain: chain } : {}),
  };
}
