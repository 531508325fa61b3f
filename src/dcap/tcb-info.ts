// TCB Info (v2 and v3, SGX and TDX): the TCB levels of one FMSPC, parsed strictly as Intel's QVL parses
// them (AttestationParsers/src/Json/TcbInfo.cpp, TcbLevel.cpp, TdxModule.cpp, TdxModuleIdentity.cpp).
import { fail } from './errors.ts';
import { advisoryIdsField, hexField, intField, objectField, parseDate } from './signed-json.ts';
import { TCB_STATUSES, type TcbStatus } from './types.ts';

export interface TcbLevel {
  components: number[]; // 16 SGX component SVNs
  pceSvn: number;
  /** TDX TCB Info only: the 16 TDX component SVNs (tdxtcbcomponents), compared with TEE_TCB_SVN. */
  tdxComponents: number[] | null;
  status: TcbStatus;
  tcbDate: string;
  advisoryIds: string[];
}

/** A TDX module's TCB level (statuses UpToDate, OutOfDate, Revoked: TcbStatus.h VALID_MODULE_TCB_STATUSES). */
export interface TdxModuleTcbLevel {
  isvSvn: number;
  status: TcbStatus;
  tcbDate: string;
  advisoryIds: string[];
}

/** The TDX module that TCB Info vouches for: `tdxModule`, or one entry of `tdxModuleIdentities`. */
export interface TdxModuleIdentity {
  /** "TDX_03"; null for the `tdxModule` object (no id, no levels). */
  id: string | null;
  mrSigner: Buffer; // 48
  attributes: Buffer; // 8
  attributesMask: Buffer; // 8
  /** Highest ISVSVN first (Intel's ordered set); empty for `tdxModule`. */
  levels: TdxModuleTcbLevel[];
}

export const MODULE_TCB_STATUSES = ['UpToDate', 'OutOfDate', 'Revoked'] as const;

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
  /** TDX TCB Info only (required there, refused in SGX TCB Info). */
  tdxModule: TdxModuleIdentity | null;
  /** TDX TCB Info only; null when absent (Intel then cannot evaluate a module of major version > 0). */
  tdxModuleIdentities: TdxModuleIdentity[] | null;
}

export function parseStatus(value: unknown, what: string, allowed: readonly string[] = TCB_STATUSES): TcbStatus {
  if (typeof value !== 'string' || !allowed.includes(value)) fail('tcb_not_supported', `${what} has unknown status ${JSON.stringify(value)}`);
  return value as TcbStatus;
}

function componentList(list: unknown, what: string, field: string): number[] {
  if (!Array.isArray(list)) fail('malformed_collateral', `${what} has no ${field}`);
  if (list.length !== 16) fail('tcb_not_supported', `${what} has ${list.length} ${field}, not 16`);
  return list.map((c, i) => intField(objectField(c, `${what} ${field} ${i + 1}`).svn, `${what} ${field} ${i + 1} svn`, 255));
}

function parseLevel(raw: unknown, version: 2 | 3, tdx: boolean, index: number): TcbLevel {
  const what = `TCB Info level ${index}`;
  const level = objectField(raw, what);
  const tcb = objectField(level.tcb, `${what} tcb`);
  let components: number[];
  let tdxComponents: number[] | null = null;
  if (version === 3) {
    components = componentList(tcb.sgxtcbcomponents, what, 'sgxtcbcomponents');
    if (tdx) tdxComponents = componentList(tcb.tdxtcbcomponents, what, 'tdxtcbcomponents');
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
  return { components, pceSvn, tdxComponents, status, tcbDate, advisoryIds: advisoryIdsField(level.advisoryIDs, `${what} advisoryIDs`) };
}

function parseModuleLevel(raw: unknown, what: string): TdxModuleTcbLevel {
  const level = objectField(raw, what);
  const tcb = objectField(level.tcb, `${what} tcb`);
  return {
    isvSvn: intField(tcb.isvsvn, `${what} isvsvn`, 255),
    status: parseStatus(level.tcbStatus, what, MODULE_TCB_STATUSES),
    tcbDate: parseDate(level.tcbDate, `${what} tcbDate`).toISOString().replace('.000Z', 'Z'),
    advisoryIds: advisoryIdsField(level.advisoryIDs, `${what} advisoryIDs`),
  };
}

function parseModuleIdentity(raw: unknown, what: string, withLevels: boolean): TdxModuleIdentity {
  const m = objectField(raw, what);
  let id: string | null = null;
  let levels: TdxModuleTcbLevel[] = [];
  if (withLevels) {
    if (typeof m.id !== 'string') fail('malformed_collateral', `${what} has no id`);
    id = m.id;
    if (!Array.isArray(m.tcbLevels) || m.tcbLevels.length === 0) fail('malformed_collateral', `${what} has no tcbLevels`);
    levels = m.tcbLevels.map((l, i) => parseModuleLevel(l, `${what} level ${i}`)).sort((a, b) => b.isvSvn - a.isvSvn);
    // An ordered set by ISVSVN in Intel's parser: two levels for one ISVSVN are refused ("Detected
    // duplicated TDX Module Identity TCB levels").
    for (let i = 1; i < levels.length; i++) if (levels[i - 1]!.isvSvn === levels[i]!.isvSvn) fail('malformed_collateral', `${what} lists ISVSVN ${levels[i]!.isvSvn} twice`);
  }
  return {
    id,
    mrSigner: hexField(m.mrsigner, 48, `${what} mrsigner`),
    attributes: hexField(m.attributes, 8, `${what} attributes`),
    attributesMask: hexField(m.attributesMask, 8, `${what} attributesMask`),
    levels,
  };
}

/**
 * Intel's order (TcbLevel::operator> in AttestationParsers/src/Json/TcbLevel.cpp): the 16 SVNs as a
 * vector, then PCESVN; highest first. Zero means the same TCB.
 */
function compareLevelsDescending(a: TcbLevel, b: TcbLevel): number {
  for (let i = 0; i < 16; i++) if (a.components[i] !== b.components[i]) return b.components[i]! - a.components[i]!;
  if (a.pceSvn !== b.pceSvn) return b.pceSvn - a.pceSvn;
  // TDX TCB Info: then the TDX components as a vector.
  if (a.tdxComponents && b.tdxComponents) {
    for (let i = 0; i < 16; i++) if (a.tdxComponents[i] !== b.tdxComponents[i]) return b.tdxComponents[i]! - a.tdxComponents[i]!;
  }
  return 0;
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
  if (version === 3 && id !== 'SGX' && id !== 'TDX') fail('malformed_collateral', `TCB Info id ${JSON.stringify(id)} is neither SGX nor TDX`);
  const tdx = id === 'TDX';
  let tdxModule: TdxModuleIdentity | null = null;
  let tdxModuleIdentities: TdxModuleIdentity[] | null = null;
  if (tdx) {
    if (info.tdxModule === undefined) fail('malformed_collateral', 'TDX TCB Info has no tdxModule');
    tdxModule = parseModuleIdentity(info.tdxModule, 'TCB Info tdxModule', false);
    if (info.tdxModuleIdentities !== undefined) {
      if (!Array.isArray(info.tdxModuleIdentities) || info.tdxModuleIdentities.length === 0) fail('malformed_collateral', 'TCB Info tdxModuleIdentities is not a non-empty array');
      tdxModuleIdentities = info.tdxModuleIdentities.map((m, i) => parseModuleIdentity(m, `TCB Info tdxModuleIdentities[${i}]`, true));
    }
  } else if (info.tdxModule !== undefined || info.tdxModuleIdentities !== undefined) {
    fail('malformed_collateral', 'SGX TCB Info must not carry tdxModule or tdxModuleIdentities');
  }
  if (!Array.isArray(info.tcbLevels) || info.tcbLevels.length === 0) fail('malformed_collateral', 'TCB Info has no tcbLevels');
  if (info.tcbType !== undefined && info.tcbType !== 0) fail('tcb_not_supported', `TCB Info tcbType ${JSON.stringify(info.tcbType)} is not 0`);
  const levels = info.tcbLevels.map((l, i) => parseLevel(l, version, tdx, i)).sort(compareLevelsDescending);
  // Intel inserts the levels into an ordered set and refuses the TCB Info when an insert finds the same
  // TCB already there ("Detected duplicated TCB levels", AttestationParsers/src/Json/TcbInfo.cpp): which
  // of two statuses for one TCB holds is not for a verifier to pick.
  for (let i = 1; i < levels.length; i++) {
    if (compareLevelsDescending(levels[i - 1]!, levels[i]!) === 0) {
      const l = levels[i]!;
      fail('malformed_collateral', `TCB Info lists the TCB (${l.components.join(',')}; PCESVN ${l.pceSvn}${l.tdxComponents ? `; TDX ${l.tdxComponents.join(',')}` : ''}) twice`);
    }
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
    tdxModule,
    tdxModuleIdentities,
  };
}

/**
 * The platform's TCB level: the highest level whose every component SVN and PCESVN the PCK
 * certificate meets. Component by component; never a comparison of vectors.
 */
export function matchTcbLevel(info: TcbInfo, components: number[], pceSvn: number): TcbLevel | null {
  for (const level of info.levels) if (meetsSgxLevel(level, components, pceSvn)) return level;
  return null;
}

function meetsSgxLevel(level: TcbLevel, components: number[], pceSvn: number): boolean {
  let meets = pceSvn >= level.pceSvn;
  for (let i = 0; meets && i < 16; i++) meets = components[i]! >= level.components[i]!;
  return meets;
}

/**
 * TDX (TcbLevelCheck.cpp matchTcbLevels): `sgx` is the first level the PCK certificate meets; `tdx` the first
 * of those that TEE_TCB_SVN also meets, component by component, skipping components 0 and 1 (the module's
 * ISVSVN and major version) when the major version is above 0: the module identity evaluates those.
 */
export function matchTdxTcbLevels(info: TcbInfo, components: number[], pceSvn: number, teeTcbSvn: Buffer): { sgx: TcbLevel | null; tdx: TcbLevel | null } {
  let sgx: TcbLevel | null = null;
  const from = teeTcbSvn[1]! > 0 ? 2 : 0;
  for (const level of info.levels) {
    if (!meetsSgxLevel(level, components, pceSvn)) continue;
    sgx ??= level;
    let meets = true;
    for (let i = from; meets && i < 16; i++) meets = teeTcbSvn[i]! >= level.tdxComponents![i]!;
    if (meets) return { sgx, tdx: level };
  }
  return { sgx, tdx: null };
}

/** The module identity for a major version (Intel's findTdxModuleIdentity: "TDX_" + 2 hex digits, case-insensitive). */
export function findTdxModuleIdentity(info: TcbInfo, majorVersion: number): TdxModuleIdentity | null {
  const want = `TDX_${majorVersion.toString(16).padStart(2, '0').toUpperCase()}`;
  return info.tdxModuleIdentities?.find((m) => m.id!.toUpperCase() === want) ?? null;
}
