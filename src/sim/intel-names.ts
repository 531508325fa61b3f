// Intel's names and URLs for the SGX PKI, mirrored so sim structures match real ones byte for byte.
import 'reflect-metadata';
import { Name } from '@peculiar/x509';

export const INTEL_CN = {
  root: 'Intel SGX Root CA',
  processor: 'Intel SGX PCK Processor CA',
  platform: 'Intel SGX PCK Platform CA',
  tcbSigning: 'Intel SGX TCB Signing',
  pck: 'Intel SGX PCK Certificate',
} as const;

/** CRL distribution point of the root and of every certificate the root signs. */
export const ROOT_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export function pckCrlUrl(ca: 'processor' | 'platform'): string {
  return `https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
}

/** Intel's DN layout: UTF8String for CN/O/L/ST, PrintableString for C, one attribute per RDN. */
export function intelName(cn: string): Name {
  return new Name([
    { '2.5.4.3': [{ utf8String: cn }] },
    { '2.5.4.10': [{ utf8String: 'Intel Corporation' }] },
    { '2.5.4.7': [{ utf8String: 'Santa Clara' }] },
    { '2.5.4.8': [{ utf8String: 'CA' }] },
    { '2.5.4.6': [{ printableString: 'US' }] },
  ]);
}

/** Intel's quoting enclave as QE Identity describes it (eval number 17, 2025). */
export const INTEL_QE = {
  vendorId: Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex'),
  mrSigner: Buffer.from('8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff', 'hex'),
  // MRENCLAVE of a real QE (dcap-qvl SGX sample); QE Identity does not pin it.
  mrEnclave: Buffer.from('96b347a64e5a045e27369c26e6dcda51fd7c850e9b3a3a79e718f43261dee1e4', 'hex'),
  isvProdId: 1,
  isvSvn: 8,
  flags: 0x15n, // INITTED | MODE64BIT | PROVISIONKEY
  xfrm: 0xe7n,
  miscSelect: 0,
} as const;

/** Intel's TD quoting enclave as the TD_QE identity describes it (eval number 17, 2025). */
export const INTEL_TD_QE = {
  mrSigner: Buffer.from('dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5', 'hex'),
  // QE Identity does not pin MRENCLAVE; any fixed value will do.
  mrEnclave: Buffer.from('3b6f7c1a4bd8e8d1b8ee7e1bb4b6c56b0f1c8c6dfa9f2cf11fb37f0d2c0a6b5e', 'hex'),
  isvProdId: 2,
  isvSvn: 4,
  flags: 0x15n,
  xfrm: 0xe7n,
  miscSelect: 0,
} as const;
