// The sim's default TCB history: one level per status, shaped like Intel's TCB Info for a current Xeon.
import type { TcbStatus } from '../dcap/types.ts';

export const DEFAULT_FMSPC = '00906ED50000';
export const DEFAULT_PCE_SVN = 13;

export interface TcbLevelSpec {
  /** 16 SGX component SVNs (tests may give another count to exercise the verifier). */
  components: number[];
  pceSvn: number;
  tcbDate: string;
  /** A TcbStatus, or any string (unknown-status tests). */
  tcbStatus: TcbStatus | string;
  /** Omitted from the JSON when undefined (Intel omits it on UpToDate levels). */
  advisoryIds?: string[];
  /** TDX TCB Info: the 16 TDX component SVNs (default: DEFAULT_TDX_COMPONENTS). */
  tdxComponents?: number[];
}

const c = (head: number[]): number[] => [...head, ...new Array<number>(16 - head.length).fill(0)];

/**
 * Listed newest first, as Intel does. Component 7 plays the role it has on real Xeons (a
 * configuration-dependent SVN), so "...ConfigurationNeeded" levels differ from their neighbour only there.
 */
export const DEFAULT_TCB_LEVELS: readonly TcbLevelSpec[] = [
  { components: c([15, 15, 3, 3, 255, 255, 1]), pceSvn: 13, tcbDate: '2025-05-14T00:00:00Z', tcbStatus: 'UpToDate' },
  {
    components: c([15, 15, 3, 3, 255, 255, 0]),
    pceSvn: 13,
    tcbDate: '2025-05-14T00:00:00Z',
    tcbStatus: 'ConfigurationNeeded',
    advisoryIds: ['INTEL-SA-00289'],
  },
  {
    components: c([14, 14, 3, 3, 255, 255, 1]),
    pceSvn: 13,
    tcbDate: '2024-03-13T00:00:00Z',
    tcbStatus: 'SWHardeningNeeded',
    advisoryIds: ['INTEL-SA-00615'],
  },
  {
    components: c([14, 14, 3, 3, 255, 255, 0]),
    pceSvn: 13,
    tcbDate: '2024-03-13T00:00:00Z',
    tcbStatus: 'ConfigurationAndSWHardeningNeeded',
    advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'],
  },
  {
    components: c([12, 12, 3, 3, 255, 255, 1]),
    pceSvn: 13,
    tcbDate: '2023-08-09T00:00:00Z',
    tcbStatus: 'OutOfDate',
    advisoryIds: ['INTEL-SA-00828', 'INTEL-SA-00615'],
  },
  {
    components: c([12, 12, 3, 3, 255, 255, 0]),
    pceSvn: 13,
    tcbDate: '2023-08-09T00:00:00Z',
    tcbStatus: 'OutOfDateConfigurationNeeded',
    advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00828', 'INTEL-SA-00615'],
  },
  {
    components: c([5, 5, 2, 2, 255, 255, 0]),
    pceSvn: 5,
    tcbDate: '2018-01-04T00:00:00Z',
    tcbStatus: 'Revoked',
    advisoryIds: ['INTEL-SA-00106', 'INTEL-SA-00115'],
  },
];

/** The default platform TCB: the UpToDate level. */
export const DEFAULT_TCB_COMPONENTS: readonly number[] = DEFAULT_TCB_LEVELS[0]!.components;

/** Platform TCB (components + PCESVN) that lands exactly on the default level with this status. */
export function tcbForStatus(status: TcbStatus): { tcbComponents: number[]; pceSvn: number } {
  const level = DEFAULT_TCB_LEVELS.find((l) => l.tcbStatus === status);
  if (!level) throw new Error(`no default TCB level with status ${status}`);
  return { tcbComponents: [...level.components], pceSvn: level.pceSvn };
}

/** Default QE Identity levels: Intel's real ones (isvsvn 8 UpToDate, older OutOfDate). */
export interface QeLevelSpec {
  isvsvn: number;
  tcbDate: string;
  tcbStatus: string;
  advisoryIds?: string[];
}

export const DEFAULT_QE_LEVELS: readonly QeLevelSpec[] = [
  { isvsvn: 8, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
  { isvsvn: 6, tcbDate: '2021-11-10T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00615'] },
  { isvsvn: 5, tcbDate: '2020-11-11T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00477', 'INTEL-SA-00615'] },
  { isvsvn: 4, tcbDate: '2019-11-13T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00334', 'INTEL-SA-00477', 'INTEL-SA-00615'] },
  { isvsvn: 2, tcbDate: '2019-05-15T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00219', 'INTEL-SA-00293', 'INTEL-SA-00334', 'INTEL-SA-00477', 'INTEL-SA-00615'] },
  { isvsvn: 1, tcbDate: '2018-08-15T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00202', 'INTEL-SA-00219', 'INTEL-SA-00293', 'INTEL-SA-00334', 'INTEL-SA-00477', 'INTEL-SA-00615'] },
];

// ---- TDX ----

/** TDX components of a current level: module ISVSVN 5, major version 0, TDX late microcode SVN 3. */
export const DEFAULT_TDX_COMPONENTS: readonly number[] = c([5, 0, 3]);

/**
 * The TDX TCB history: every SGX default level with current TDX components, plus, on the UpToDate SGX level,
 * older TDX components (late microcode SVN 2: OutOfDate; 1: Revoked), so TEE_TCB_SVN alone can pick a level.
 */
export const DEFAULT_TDX_TCB_LEVELS: readonly TcbLevelSpec[] = [
  ...DEFAULT_TCB_LEVELS.map((l) => ({ ...l, tdxComponents: [...DEFAULT_TDX_COMPONENTS] })),
  {
    components: DEFAULT_TCB_LEVELS[0]!.components,
    pceSvn: 13,
    tdxComponents: c([3, 0, 2]),
    tcbDate: '2024-03-13T00:00:00Z',
    tcbStatus: 'OutOfDate',
    advisoryIds: ['INTEL-SA-01036'],
  },
  {
    components: DEFAULT_TCB_LEVELS[0]!.components,
    pceSvn: 13,
    tdxComponents: c([2, 0, 1]),
    tcbDate: '2023-02-15T00:00:00Z',
    tcbStatus: 'Revoked',
    advisoryIds: ['INTEL-SA-00837'],
  },
];

export interface TdxModuleLevelSpec {
  isvsvn: number;
  tcbDate: string;
  tcbStatus: string;
  advisoryIds?: string[];
}

export interface TdxModuleSpec {
  /** "TDX_01"; omitted for the `tdxModule` object. */
  id?: string;
  /** Hex: 48 bytes (default zeros, as Intel's module). */
  mrsigner?: string;
  attributes?: string;
  attributesMask?: string;
  tcbLevels?: readonly TdxModuleLevelSpec[];
}

/** Module identities for major versions 1 and 3: ISVSVN 5 is current for TDX_01, 3 for TDX_03. */
export const DEFAULT_TDX_MODULE_IDENTITIES: readonly TdxModuleSpec[] = [
  { id: 'TDX_03', tcbLevels: [{ isvsvn: 3, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }] },
  {
    id: 'TDX_01',
    tcbLevels: [
      { isvsvn: 5, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
      { isvsvn: 3, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00960'] },
      { isvsvn: 1, tcbDate: '2023-02-15T00:00:00Z', tcbStatus: 'Revoked', advisoryIds: ['INTEL-SA-00837'] },
    ],
  },
];

/** Intel's TD QE levels (eval 17): ISVSVN 4 is current. */
export const DEFAULT_TD_QE_LEVELS: readonly QeLevelSpec[] = [
  { isvsvn: 4, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' },
  { isvsvn: 2, tcbDate: '2023-08-09T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIds: ['INTEL-SA-00960'] },
];
