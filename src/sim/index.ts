// The simulated Intel side of DCAP: PKI, platforms, collateral and quoting enclave (pure, no I/O).
export { SimPki, SimPkiFormatError, type SimPkiJson, type SimPkiOptions } from './pki.ts';
export {
  derToPem,
  randomSerial,
  type CaRole,
  type CertOverrides,
  type CrlOverrides,
  type RevokedEntry,
  type SimCa,
} from './certs.ts';
export { type PlatformOptions, type SimPlatform, attestationPublicKey } from './platform.ts';
export { makeCollateral, type CollateralOptions } from './collateral.ts';
export {
  intelDate,
  qeIdentityJson,
  qeIdentityResponse,
  tcbInfoJson,
  tcbInfoResponse,
  type QeIdentityOptions,
  type TcbInfoOptions,
} from './signed-json.ts';
export {
  DEFAULT_FMSPC,
  DEFAULT_PCE_SVN,
  DEFAULT_QE_LEVELS,
  DEFAULT_TCB_COMPONENTS,
  DEFAULT_TCB_LEVELS,
  DEFAULT_TDX_COMPONENTS,
  DEFAULT_TDX_MODULE_IDENTITIES,
  DEFAULT_TDX_TCB_LEVELS,
  DEFAULT_TD_QE_LEVELS,
  tcbForStatus,
  type TdxModuleLevelSpec,
  type TdxModuleSpec,
  type QeLevelSpec,
  type TcbLevelSpec,
} from './tcb-levels.ts';
export {
  DEFAULT_QE_AUTH_DATA,
  buildQuote,
  certificationDataFor,
  makeQuote,
  qeReportDataFor,
  TEE_TYPE_TDX,
  type QuoteLayout,
  type QuoteOptions,
} from './quote.ts';
export { SIM_ENCLAVE, encodeReportBody, type ReportFields } from './report.ts';
export { INTEL_CN, INTEL_QE, INTEL_TD_QE } from './intel-names.ts';
export { SIM_TD, TD_REPORT10_SIZE, TD_REPORT15_SIZE, encodeTdReport, type TdReportFields } from './td-report.ts';
export { SGX_EXTENSION_OID, encodeSgxExtension, type SgxExtensionFields } from './sgx-extension.ts';
export { newP256Key, rawPublicKey, signRaw } from './keys.ts';
