// TCB Info (v3, v2) and QE Identity (v2) as Intel serves them: compact JSON, Intel's key order.
import {
  DEFAULT_FMSPC,
  DEFAULT_QE_LEVELS,
  DEFAULT_TCB_LEVELS,
  DEFAULT_TDX_COMPONENTS,
  DEFAULT_TDX_MODULE_IDENTITIES,
  DEFAULT_TDX_TCB_LEVELS,
  DEFAULT_TD_QE_LEVELS,
  type QeLevelSpec,
  type TcbLevelSpec,
  type TdxModuleSpec,
} from './tcb-levels.ts';
import { INTEL_QE, INTEL_TD_QE } from './intel-names.ts';

const DAY = 86_400_000;

/** ISO 8601 UTC without milliseconds, as in Intel's JSON ("2025-06-19T10:56:11Z"). */
export function intelDate(d: Date | string): string {
  if (typeof d === 'string') return d;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Default issue window: issued a day before `at`, next update 30 days after issue (Intel's cadence). */
export function defaultWindow(at: Date): { issueDate: Date; nextUpdate: Date } {
  const issueDate = new Date(Math.floor(at.getTime() / 1000) * 1000 - DAY);
  return { issueDate, nextUpdate: new Date(issueDate.getTime() + 30 * DAY) };
}

export interface TcbInfoOptions {
  version?: 2 | 3;
  /** v3 only; default "SGX". */
  id?: string;
  issueDate?: Date | string;
  nextUpdate?: Date | string;
  /** Hex as it should appear (default upper case of the platform FMSPC). */
  fmspc?: string;
  pceId?: string;
  tcbType?: number;
  tcbEvaluationDataNumber?: number;
  levels?: readonly TcbLevelSpec[];
  /** TDX (id "TDX") only: `tdxModule` (default: zero mrsigner and attributes, mask all ones); null leaves it out. */
  tdxModule?: TdxModuleSpec | null;
  /** TDX only: `tdxModuleIdentities` (default DEFAULT_TDX_MODULE_IDENTITIES); null leaves it out. */
  tdxModuleIdentities?: readonly TdxModuleSpec[] | null;
}

const ZERO48 = '0'.repeat(96);

function moduleJson(m: TdxModuleSpec): Record<string, unknown> {
  return {
    ...(m.id !== undefined ? { id: m.id } : {}),
    mrsigner: m.mrsigner ?? ZERO48,
    attributes: m.attributes ?? '0000000000000000',
    attributesMask: m.attributesMask ?? 'FFFFFFFFFFFFFFFF',
    ...(m.tcbLevels
      ? {
          tcbLevels: m.tcbLevels.map((l) => ({
            tcb: { isvsvn: l.isvsvn },
            tcbDate: l.tcbDate,
            tcbStatus: l.tcbStatus,
            ...(l.advisoryIds ? { advisoryIDs: l.advisoryIds } : {}),
          })),
        }
      : {}),
  };
}

export function tcbInfoJson(o: TcbInfoOptions = {}, at: Date = new Date()): string {
  const win = defaultWindow(at);
  const version = o.version ?? 3;
  const tdx = version === 3 && o.id === 'TDX';
  const levels = o.levels ?? (tdx ? DEFAULT_TDX_TCB_LEVELS : DEFAULT_TCB_LEVELS);
  const head = {
    ...(version === 3 ? { id: o.id ?? 'SGX' } : {}),
    version,
    issueDate: intelDate(o.issueDate ?? win.issueDate),
    nextUpdate: intelDate(o.nextUpdate ?? win.nextUpdate),
    fmspc: o.fmspc ?? DEFAULT_FMSPC,
    pceId: o.pceId ?? '0000',
    tcbType: o.tcbType ?? 0,
    tcbEvaluationDataNumber: o.tcbEvaluationDataNumber ?? 17,
    // Intel's key order: tdxModule and tdxModuleIdentities between the header and tcbLevels.
    ...(tdx && o.tdxModule !== null ? { tdxModule: moduleJson(o.tdxModule ?? {}) } : {}),
    ...(tdx && o.tdxModuleIdentities !== null ? { tdxModuleIdentities: (o.tdxModuleIdentities ?? DEFAULT_TDX_MODULE_IDENTITIES).map(moduleJson) } : {}),
  };
  const tcbLevels = levels.map((l) => {
    if (version === 2) {
      const tcb: Record<string, number> = {};
      l.components.forEach((svn, i) => (tcb[`sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`] = svn));
      tcb['pcesvn'] = l.pceSvn;
      return { tcb, tcbDate: l.tcbDate, tcbStatus: l.tcbStatus };
    }
    return {
      tcb: {
        sgxtcbcomponents: l.components.map((svn) => ({ svn })),
        pcesvn: l.pceSvn,
        ...(tdx ? { tdxtcbcomponents: (l.tdxComponents ?? DEFAULT_TDX_COMPONENTS).map((svn) => ({ svn })) } : {}),
      },
      tcbDate: l.tcbDate,
      tcbStatus: l.tcbStatus,
      ...(l.advisoryIds ? { advisoryIDs: l.advisoryIds } : {}),
    };
  });
  return JSON.stringify({ ...head, tcbLevels });
}

export interface QeIdentityOptions {
  id?: string;
  version?: number;
  issueDate?: Date | string;
  nextUpdate?: Date | string;
  tcbEvaluationDataNumber?: number;
  miscselect?: string;
  miscselectMask?: string;
  attributes?: string;
  attributesMask?: string;
  mrsigner?: string;
  isvprodid?: number;
  levels?: readonly QeLevelSpec[];
}

export function qeIdentityJson(o: QeIdentityOptions = {}, at: Date = new Date()): string {
  const win = defaultWindow(at);
  // The TD QE's identity (id TD_QE) has its own signer, product ID and levels.
  const td = o.id === 'TD_QE';
  const qe = td ? INTEL_TD_QE : INTEL_QE;
  return JSON.stringify({
    id: o.id ?? 'QE',
    version: o.version ?? 2,
    issueDate: intelDate(o.issueDate ?? win.issueDate),
    nextUpdate: intelDate(o.nextUpdate ?? win.nextUpdate),
    tcbEvaluationDataNumber: o.tcbEvaluationDataNumber ?? 17,
    miscselect: o.miscselect ?? '00000000',
    miscselectMask: o.miscselectMask ?? 'FFFFFFFF',
    attributes: o.attributes ?? '11000000000000000000000000000000',
    attributesMask: o.attributesMask ?? 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: o.mrsigner ?? qe.mrSigner.toString('hex').toUpperCase(),
    isvprodid: o.isvprodid ?? qe.isvProdId,
    tcbLevels: (o.levels ?? (td ? DEFAULT_TD_QE_LEVELS : DEFAULT_QE_LEVELS)).map((l) => ({
      tcb: { isvsvn: l.isvsvn },
      tcbDate: l.tcbDate,
      tcbStatus: l.tcbStatus,
      ...(l.advisoryIds ? { advisoryIDs: l.advisoryIds } : {}),
    })),
  });
}

/** PCS response bodies: the signed text is spliced in verbatim so its bytes stay exactly as signed. */
export function tcbInfoResponse(tcbInfo: string, signature: Buffer): string {
  return `{"tcbInfo":${tcbInfo},"signature":"${signature.toString('hex')}"}`;
}

export function qeIdentityResponse(identity: string, signature: Buffer): string {
  return `{"enclaveIdentity":${identity},"signature":"${signature.toString('hex')}"}`;
}
