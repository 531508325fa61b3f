// QE Identity (Enclave Identity v2): which quoting enclave Intel vouches for, and its TCB levels.
// Follows Intel's QVL: EnclaveIdentityParser.cpp (version 2 only), EnclaveIdentityV2.cpp (levels kept in
// JSON order, statuses by parseStringToTcbStatus in TcbStatus.h), EnclaveReportVerifier.cpp (the status).
import { fail } from './errors.ts';
import { advisoryIdsField, hexField, intField, objectField, parseDate } from './signed-json.ts';
import { parseStatus } from './tcb-info.ts';
import type { ReportBody, TcbStatus } from './types.ts';

/** The statuses Intel's parser accepts on a QE level (TcbStatus.h parseStringToTcbStatus). */
export const QE_LEVEL_STATUSES = ['UpToDate', 'ConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked'] as const;
export type QeLevelStatus = (typeof QE_LEVEL_STATUSES)[number];

/**
 * The QE's TCB status as Intel's EnclaveReportVerifier::verify gives it: UpToDate, Revoked, any other
 * level status reads as OutOfDate, and no level at or below the QE's ISVSVN is NotSupported.
 */
export type QeStatus = 'UpToDate' | 'OutOfDate' | 'Revoked' | 'NotSupported';

export interface QeTcbLevel {
  isvSvn: number;
  status: QeLevelStatus;
  tcbDate: string;
  advisoryIds: string[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  /** The 4 bytes as they appear in the report (Intel compares bytewise, not as a number). */
  miscSelect: Buffer;
  miscSelectMask: Buffer;
  attributes: Buffer;
  attributesMask: Buffer;
  mrSigner: Buffer;
  isvProdId: number;
  /** In JSON order, as Intel keeps them: the first level with isvsvn <= the QE's ISVSVN is the QE's. */
  levels: QeTcbLevel[];
}

export function parseQeIdentity(text: string): QeIdentity {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('malformed_collateral', `QE Identity is not valid JSON: ${(e as Error).message}`);
  }
  const qe = objectField(doc, 'QE Identity');
  // Intel's EnclaveIdentityParser::parse supports version 2 only (QvE's own check also lets 3 through,
  // but the QVL parser it calls has already refused it).
  if (qe.version !== 2) fail('malformed_collateral', `QE Identity version ${JSON.stringify(qe.version)} is not supported (2)`);
  if (typeof qe.id !== 'string') fail('malformed_collateral', 'QE Identity has no id');
  if (!Array.isArray(qe.tcbLevels) || qe.tcbLevels.length === 0) fail('malformed_collateral', 'QE Identity has no tcbLevels');
  const levels = qe.tcbLevels.map((raw, i): QeTcbLevel => {
    const what = `QE Identity level ${i}`;
    const level = objectField(raw, what);
    const tcb = objectField(level.tcb, `${what} tcb`);
    return {
      isvSvn: intField(tcb.isvsvn, `${what} isvsvn`),
      status: parseStatus(level.tcbStatus, what, QE_LEVEL_STATUSES) as QeLevelStatus,
      tcbDate: parseDate(level.tcbDate, `${what} tcbDate`).toISOString().replace('.000Z', 'Z'),
      advisoryIds: advisoryIdsField(level.advisoryIDs, `${what} advisoryIDs`),
    };
  });
  return {
    id: qe.id,
    version: qe.version,
    issueDate: parseDate(qe.issueDate, 'QE Identity issueDate'),
    nextUpdate: parseDate(qe.nextUpdate, 'QE Identity nextUpdate'),
    tcbEvaluationDataNumber: intField(qe.tcbEvaluationDataNumber ?? 0, 'QE Identity tcbEvaluationDataNumber', 0xffffffff),
    miscSelect: hexField(qe.miscselect, 4, 'QE Identity miscselect'),
    miscSelectMask: hexField(qe.miscselectMask, 4, 'QE Identity miscselectMask'),
    attributes: hexField(qe.attributes, 16, 'QE Identity attributes'),
    attributesMask: hexField(qe.attributesMask, 16, 'QE Identity attributesMask'),
    mrSigner: hexField(qe.mrsigner, 32, 'QE Identity mrsigner'),
    isvProdId: intField(qe.isvprodid, 'QE Identity isvprodid'),
    levels,
  };
}

/** The QE report must be the enclave QE Identity describes (masked fields compared bytewise). */
export function qeIdentityMismatch(identity: QeIdentity, report: ReportBody): string | null {
  if (!report.mrSigner.equals(identity.mrSigner)) return `QE MRSIGNER ${report.mrSigner.toString('hex')} is not ${identity.mrSigner.toString('hex')}`;
  if (report.isvProdId !== identity.isvProdId) return `QE ISVPRODID ${report.isvProdId} is not ${identity.isvProdId}`;
  const miscSelect = report.raw.subarray(16, 20);
  for (let i = 0; i < 4; i++) {
    if ((miscSelect[i]! & identity.miscSelectMask[i]!) !== identity.miscSelect[i]) return 'QE MISCSELECT does not match under its mask';
  }
  for (let i = 0; i < 16; i++) {
    if ((report.attributes[i]! & identity.attributesMask[i]!) !== identity.attributes[i]) return 'QE ATTRIBUTES do not match under their mask';
  }
  return null;
}

/** EnclaveIdentityV2::getTcbStatus: the first level in JSON order whose isvsvn the QE meets. */
export function matchQeLevel(identity: QeIdentity, isvSvn: number): QeTcbLevel | null {
  return identity.levels.find((l) => l.isvSvn <= isvSvn) ?? null;
}

/** EnclaveReportVerifier::verify, steps 4.1.2.9.9-10: the QE's status from its level. */
export function qeStatusOf(level: QeTcbLevel | null): QeStatus {
  if (!level) return 'NotSupported';
  if (level.status === 'UpToDate' || level.status === 'Revoked') return level.status;
  return 'OutOfDate';
}
