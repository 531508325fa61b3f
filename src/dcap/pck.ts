// The PCK certificate: where the quote's chain comes from, and the SGX extension it carries.
import { DerError, TAG, children, content, expectTag, readOid, readSmallInt, readTlv } from './der.ts';
import { fail } from './errors.ts';
import { CERT_DATA_PCK_CHAIN } from './quote.ts';
import type { PckCaKind, Quote, SgxExtension } from './types.ts';
import { CertificateError, orderChain, parsePemChain, type Certificate } from './x509.ts';

export const OID_SGX_EXTENSION = '1.2.840.113741.1.13.1';
const SGX = OID_SGX_EXTENSION;

/**
 * Reads the SGX extension (OID 1.2.840.113741.1.13.1) of a PCK leaf. A leaf of the Platform CA must also
 * carry Platform Instance ID (.6) and Configuration (.7), as Intel's parser requires; an entry given twice
 * makes the certificate ambiguous and is refused.
 */
export function parseSgxExtension(cert: Certificate, ca?: PckCaKind): SgxExtension {
  const value = cert.extensions.get(SGX);
  if (!value) fail('invalid_certificate_chain', 'PCK certificate has no SGX extension');
  try {
    const top = readTlv(value, 0);
    if (top.end !== value.length) throw new DerError('trailing bytes');
    const fields = new Map<string, ReturnType<typeof readTlv>>();
    for (const entry of children(value, expectTag(top, TAG.SEQUENCE, 'SGX extension'))) {
      const [oidT, valT] = children(value, expectTag(entry, TAG.SEQUENCE, 'SGX extension entry'));
      if (!valT) throw new DerError('SGX extension entry without value');
      const oid = readOid(value, oidT);
      if (fields.has(oid)) throw new DerError(`${oid} appears twice`);
      fields.set(oid, valT);
    }
    const octets = (oid: string, len: number): Buffer => {
      const b = content(value, expectTag(fields.get(oid), TAG.OCTET_STRING, `${oid} OCTET STRING`));
      if (b.length !== len) throw new DerError(`${oid} must be ${len} bytes`);
      return Buffer.from(b);
    };
    const tcbT = expectTag(fields.get(`${SGX}.2`), TAG.SEQUENCE, 'TCB');
    const tcb = new Map<string, ReturnType<typeof readTlv>>();
    for (const entry of children(value, tcbT)) {
      const [oidT, valT] = children(value, expectTag(entry, TAG.SEQUENCE, 'TCB entry'));
      if (!valT) throw new DerError('TCB entry without value');
      const oid = readOid(value, oidT);
      if (tcb.has(oid)) throw new DerError(`${oid} appears twice`);
      tcb.set(oid, valT);
    }
    const tcbComponents: number[] = [];
    for (let i = 1; i <= 16; i++) {
      const svn = readSmallInt(value, tcb.get(`${SGX}.2.${i}`));
      if (svn > 255) throw new DerError(`TCB component ${i} out of range`);
      tcbComponents.push(svn);
    }
    const pceSvn = readSmallInt(value, tcb.get(`${SGX}.2.17`));
    if (pceSvn > 0xffff) throw new DerError('PCESVN out of range');
    const cpuT = expectTag(tcb.get(`${SGX}.2.18`), TAG.OCTET_STRING, 'CPUSVN');
    const cpuSvn = Buffer.from(content(value, cpuT));
    if (cpuSvn.length !== 16) throw new DerError('CPUSVN must be 16 bytes');
    if (ca === 'platform') {
      octets(`${SGX}.6`, 16);
      expectTag(fields.get(`${SGX}.7`), TAG.SEQUENCE, 'Configuration (.7) of a Platform-CA PCK certificate');
    }
    return {
      ppid: octets(`${SGX}.1`, 16),
      tcbComponents,
      pceSvn,
      cpuSvn,
      pceId: octets(`${SGX}.3`, 2),
      fmspc: octets(`${SGX}.4`, 6),
      sgxType: readSmallInt(value, fields.get(`${SGX}.5`), TAG.ENUMERATED),
    };
  } catch (e) {
    if (e instanceof DerError) fail('invalid_certificate_chain', `malformed SGX extension in PCK certificate: ${e.message}`);
    throw e;
  }
}

/** The PCK chain (leaf, CA, root) the quote carries, or the one supplied with the collateral. */
export function pckChainOf(quote: Quote, suppliedChain?: string): Certificate[] {
  const cd = quote.signature.certification;
  let pem: string;
  if (cd.type === CERT_DATA_PCK_CHAIN) pem = cd.data.toString('latin1');
  else if (suppliedChain) pem = suppliedChain;
  else fail('unsupported_quote', `certification data type ${cd.type} carries no PCK certificate chain and the collateral supplies none (pck_certificate_chain)`);
  try {
    const chain = parsePemChain(pem);
    if (chain.length !== 3) fail('invalid_certificate_chain', `PCK chain must hold 3 certificates (leaf, CA, root), it holds ${chain.length}`);
    return orderChain(chain);
  } catch (e) {
    if (e instanceof CertificateError) fail(cd.type === CERT_DATA_PCK_CHAIN ? 'malformed_quote' : 'malformed_collateral', `PCK chain: ${e.message}`);
    throw e;
  }
}

export function pckCaKind(intermediate: Certificate): PckCaKind {
  if (/Processor/.test(intermediate.subjectCn)) return 'processor';
  if (/Platform/.test(intermediate.subjectCn)) return 'platform';
  fail('invalid_certificate_chain', `PCK CA '${intermediate.subjectCn}' is neither the Processor nor the Platform CA`);
}
