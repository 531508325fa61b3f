// Simulated SGX platforms: a PCK leaf (with the SGX extension) under the Processor or Platform CA.
import { createHash, type KeyObject } from 'node:crypto';
import type { PckCaKind } from '../dcap/types.ts';
import { Extension, derToPem, issueIntelCert, randomSerial, type CertOverrides, type SimCa } from './certs.ts';
import { INTEL_CN, pckCrlUrl } from './intel-names.ts';
import { newP256Key, rawPublicKey } from './keys.ts';
import { SGX_EXTENSION_OID, encodeSgxExtension } from './sgx-extension.ts';
import { DEFAULT_FMSPC, DEFAULT_PCE_SVN, DEFAULT_TCB_COMPONENTS } from './tcb-levels.ts';

export interface PlatformOptions {
  /** 6 bytes, hex or Buffer. */
  fmspc?: string | Buffer;
  ca?: PckCaKind;
  /** The 16 SGX TCB component SVNs the PCK certificate is issued for. */
  tcbComponents?: number[];
  pceSvn?: number;
  /** CPUSVN in the certificate (.2.18) and, by default, in reports. Default: the component bytes. */
  cpuSvn?: Buffer;
  pceId?: string | Buffer;
  ppid?: Buffer;
  sgxType?: number;
  /** Platform-CA leaves only (defaults given there). */
  platformInstanceId?: Buffer;
  configuration?: { dynamicPlatform: boolean; cachedKeys: boolean; smtEnabled: boolean };
  /** QE ID the quote header's user data carries. */
  qeId?: Buffer;
  /** Raw value of the SGX extension instead of the encoded fields (malformed-certificate tests). */
  sgxExtensionDer?: Buffer;
  leaf?: CertOverrides;
}

export interface SimPlatform {
  ca: PckCaKind;
  fmspc: Buffer;
  tcbComponents: number[];
  pceSvn: number;
  cpuSvn: Buffer;
  pceId: Buffer;
  ppid: Buffer;
  sgxType: number;
  qeId: Buffer;
  /** PCK leaf key: signs the QE report. */
  pckKey: KeyObject;
  /** The QE's attestation key: signs quotes. */
  attestationKey: KeyObject;
  leafDer: Buffer;
  leafPem: string;
  serialNumber: string; // hex
  /** Leaf, issuing CA, root: what certification data type 5 carries. */
  chainPem: string;
}

export function hexBytes(v: string | Buffer, len: number, what: string): Buffer {
  const b = typeof v === 'string' ? (/^([0-9a-fA-F]{2})*$/.test(v) ? Buffer.from(v, 'hex') : Buffer.alloc(0)) : v;
  if (b.length !== len) throw new Error(`${what} must be ${len} bytes of hex`);
  return b;
}

/** Stable per-platform identifiers: derived from the CA key and platform parameters, not random. */
function derive(label: string, seed: string, len: number): Buffer {
  return createHash('sha256').update(`warden-sim:${label}:${seed}`).digest().subarray(0, len);
}

export async function issuePlatform(
  opts: PlatformOptions,
  ca: SimCa,
  root: SimCa,
  validity: { notBefore: Date; notAfter: Date },
): Promise<SimPlatform> {
  const kind: PckCaKind = opts.ca ?? 'processor';
  const fmspc = hexBytes(opts.fmspc ?? DEFAULT_FMSPC, 6, 'FMSPC');
  const tcbComponents = opts.tcbComponents ?? [...DEFAULT_TCB_COMPONENTS];
  const pceSvn = opts.pceSvn ?? DEFAULT_PCE_SVN;
  const cpuSvn = opts.cpuSvn ?? Buffer.from(tcbComponents.slice(0, 16).map((v) => v & 0xff));
  const pceId = hexBytes(opts.pceId ?? '0000', 2, 'PCE-ID');
  const seed = `${ca.keyId}:${fmspc.toString('hex')}:${kind}:${tcbComponents.join('.')}:${pceSvn}`;
  const ppid = opts.ppid ?? derive('ppid', seed, 16);
  const sgxType = opts.sgxType ?? (kind === 'platform' ? 1 : 0);
  const qeId = opts.qeId ?? derive('qeid', seed, 16);
  const pckKey = opts.leaf?.privateKey ?? newP256Key();
  const ext =
    opts.sgxExtensionDer ??
    encodeSgxExtension({
      ppid,
      tcbComponents,
      pceSvn,
      cpuSvn,
      pceId,
      fmspc,
      sgxType,
      ...(kind === 'platform'
        ? {
            platformInstanceId: opts.platformInstanceId ?? derive('instance', seed, 16),
            configuration: opts.configuration ?? { dynamicPlatform: true, cachedKeys: false, smtEnabled: false },
          }
        : {}),
    });
  const issued = await issueIntelCert({
    cn: INTEL_CN.pck,
    issuer: ca,
    privateKey: pckKey,
    serialNumber: randomSerial(),
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    crlUrl: pckCrlUrl(kind),
    ca: false,
    extraExtensions: [new Extension(SGX_EXTENSION_OID, false, Uint8Array.from(ext).buffer)],
    ...(opts.leaf ? { overrides: opts.leaf } : {}),
  });
  const leafPem = derToPem(issued.der);
  return {
    ca: kind,
    fmspc,
    tcbComponents,
    pceSvn,
    cpuSvn,
    pceId,
    ppid,
    sgxType,
    qeId,
    pckKey,
    attestationKey: newP256Key(),
    leafDer: issued.der,
    leafPem,
    serialNumber: issued.serialNumber,
    chainPem: leafPem + ca.pem + root.pem,
  };
}

/** Attestation public key as the quote carries it (X||Y). */
export function attestationPublicKey(p: SimPlatform): Buffer {
  return rawPublicKey(p.attestationKey);
}
