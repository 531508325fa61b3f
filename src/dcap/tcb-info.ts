// TCB Info (v2 and v3) for SGX: the TCB levels of one FMSPC, parsed strictly.
import { fail } from './errors.ts';
import { advisoryIdsField, hexField, intField, objectField, parseDate } from './signed-json.ts';
import { TCB_STATUSES, type TcbStatus } from './types.ts';

export interface TcbLevel {
  components: number[]; // 16 SGX component SVNs
  pceSvn: number;
  status: TcbStatus;
  tcbDate: string;
  advisoryIds: string[];
}

export interface TcbInfo {
  version: 2 | 3;
  id: string | null; // v3: "SGX" | "TDX"
  issueDate: Date;
  nextUpdate: Date;
  fmspc: string; // lower-case hex
  pceId: string; // lower-case hex
  tcbEvaluationDataNumber: number;
  /** Sorted highest first by Intel's comparator; JSON order does not matter. */
  levels: TcbLevel[];
}

export function parseStatus(value: unknown, what: string, allowed: readonly string[] = TCB_STATUSES): TcbStatus {
  if (typeof value !== 'string' || !allowed.includes(value)) fail('tcb_not_supported', `${what} has unknown status ${JSON.stringify(value)}`);
  return value as TcbStatus;
}

function parseLevel(raw: unknown, version: 2 | 3, index: number): TcbLevel {
  const what = `TCB Info level ${index}`;
  const level = objectField(raw, what);
  const tcb = objectField(level.tcb, `${what} tcb`);
  let components: number[];
  if (version === 3) {
    const list = tcb.sgxtcbcomponents;
    if (!Array.isArray(list)) fail('malformed_collateral', `${what} has no sgxtcbcomponents`);
    if (list.length !== 16) fail('tcb_not_supported', `${what} has ${list.length} SGX TCB components, not 16`);
    components = list.map((c, i) => intField(objectField(c, `${what} component ${i + 1}`).svn, `${what} component ${i + 1} svn`, 255));
  } else {
    components = [];
    for (let i = 1; i <= 16; i++) {
      const v = tcb[`sgxtcbcomp${String(i).padStart(2, '0')}svn`];
      if (v === undefined) fail('tcb_not_supported', `${what} lacks sgxtcbcomp${String(i).padStart(2, '0')}svn`);
      components.push(intField(v, `${what} sgxtcbcomp${i}svn`, 255));
    }
  }
  const pceSvn = intField(tcb.pcesvn, `${what} pcesvn`);
  const status = parseStatus(level.tcbStatus, what);
  const tcbDate = parseDate(level.tcbDate, `${what} tcbDate`).toISOString().replace('.000Z', 'Z');
  return { components, pceSvn, status, tcbDate, advisoryIds: advisoryIdsField(level.advisoryIDs, `${what} advisoryIDs`) };
}

/**
 * Intel's order (TcbLevel::operator> in AttestationParsers/src/Json/TcbLevel.cpp): the 16 SVNs as a
 * vector, then PCESVN; highest first. Zero means the same TCB.
 */
function compareLevelsDescending(a: TcbLevel, b: TcbLevel): number {
  for (let i = 0; i < 16; i++) if (a.components[i] !== b.components[i]) return b.components[i]! - a.components[i]!;
  return b.pceSvn - a.pceSvn;
}

export function parseTcbInfo(text: string): TcbInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail('malformed_collateral', `TCB Info is not valid JSON: ${(e as Error).message}`);
  }
  const info = objectField(doc, 'TCB Info');
  const version = info.version;
  if (version !== 2 && version !== 3) fail('malformed_collateral', `TCB Info version ${JSON.stringify(version)} is not supported (2 or 3)`);
  const id = version === 3 ? info.id : null;
  if (version === 3 && typeof id !== 'string') fail('malformed_collateral', 'TCB Info v3 has no id');
  if (!Array.isArray(info.tcbLevels) || info.tcbLevels.length === 0) fail('malformed_collateral', 'TCB Info has no tcbLevels');
  if (info.tcbType !== undefined && info.tcbType !== 0) fail('tcb_not_supported', `TCB Info tcbType ${JSON.stringify(info.tcbType)} is not 0`);
  const levels = info.tcbLevels.map((l, i) => parseLevel(l, version, i)).sort(compareLevelsDescending);
  // Intel inserts the levels into an ordered set and refuses the TCB Info when an insert finds the same
  // TCB already there ("Detected duplicated TCB levels", AttestationParsers/src/Json/TcbInfo.cpp): which
  // of two statuses for one TCB holds is not for a verifier to pick.
  for (let i = 1; i < levels.length; i++) {
    if (compareLevelsDescending(levels[i - 1]!, levels[i]!) === 0) fail('malformed_collateral', `TCB Info lists the TCB (${levels[i]!.components.join(',')}; PCESVN ${levels[i]!.pceSvn}) twice`);
  }
  return {
    version,
    id: id as string | null,
    issueDate: parseDate(info.issueDate, 'TCB Info issueDate'),
    nextUpdate: parseDate(info.nextUpdate, 'TCB Info nextUpdate'),
    fmspc: hexField(info.fmspc, 6, 'TCB Info fmspc').toString('hex'),
    pceId: hexField(info.pceId, 2, 'TCB Info pceId').toString('hex'),
    tcbEvaluationDataNumber: intField(info.tcbEvaluationDataNumber ?? 0, 'TCB Info tcbEvaluationDataNumber', 0xffffffff),
    levels,
  };
}

/**
 * The platform's TCB level: the highest level whose every component SVN and PCESVN the PCK
 * certificate meets. Component by component; never a comparison of vectors.
 */
export function matchTcbLevel(info: TcbInfo, components: number[], pceSvn: number): TcbLevel | null {
  for (const level of info.levels) {
    let meets = pceSvn >= level.pceSvn;
    for (let i = 0; meets && i < 16; i++) meets = components[i]! >= level.components[i]!;
    if (meets) return level;
  }
  return null;
}
