// `warden sim quote`: the flags that describe a simulated quote (an SGX enclave's or a TDX trust domain's) and
// the quote they make. Kept apart from sim.ts so each stays one job and under the size limit.
import { TCB_STATUSES, type PckCaKind, type TcbStatus } from '../dcap/types.ts';
import type { SimPki } from '../sim/pki.ts';
import { makeQuote, type QuoteOptions } from '../sim/quote.ts';
import { SIM_TD, type TdReportFields } from '../sim/td-report.ts';
import { tcbForStatus } from '../sim/tcb-levels.ts';
import { JSON_FLAG, UsageError, type CommandHelp, type FlagSpecs } from './io.ts';

export const PKI_FLAG = { pki: { type: 'string', arg: 'DIR', help: 'the sim PKI (default DIR/sim-pki of $WARDEN_DATA or ./data; created when missing)' } } as const satisfies FlagSpecs;
export const IDENTITY_FLAGS = {
  mrenclave: { type: 'string', arg: 'HEX', help: "MRENCLAVE, 32 bytes (default: the simulator's default enclave)" },
  isvprodid: { type: 'string', arg: 'N', help: 'ISVPRODID (default 0)' },
  isvsvn: { type: 'string', arg: 'N', help: 'ISVSVN (default 0)' },
} as const satisfies FlagSpecs;

const td48 = (what: string, dflt?: Buffer) => ({ type: 'string', arg: 'HEX', help: `with --tee tdx: ${what}, 48 bytes${dflt ? ` (default ${dflt.toString('hex').slice(0, 8)}…, the sim TD's)` : ' (default zeros)'}` }) as const;

/** What a TD's quote says about it (--tee tdx). Each is a field of the TD report (dcap-verification.md §2.2). */
const TD_FLAGS = {
  'td-report': { type: 'string', arg: '1.0|1.5', help: 'with --tee tdx: the TD report version; 1.5 (TEE_TCB_SVN_2, MRSERVICETD) needs quote version 5 (default 1.0)' },
  mrtd: td48('MRTD, the TD\'s initial image', SIM_TD.mrTd),
  rtmr0: td48('RTMR0 (firmware)', SIM_TD.rtmr0),
  rtmr1: td48('RTMR1 (kernel)', SIM_TD.rtmr1),
  rtmr2: td48('RTMR2 (command line)', SIM_TD.rtmr2),
  rtmr3: td48('RTMR3 (runtime)'),
  mrconfigid: td48('MRCONFIGID'),
  mrowner: td48('MROWNER'),
  mrownerconfig: td48('MROWNERCONFIG'),
  mrseam: td48('MRSEAM, the TDX module', SIM_TD.mrSeam),
  'tee-tcb-svn': {
    type: 'string',
    arg: 'HEX',
    help: `with --tee tdx: TEE_TCB_SVN, 16 bytes: [0] the module's ISVSVN, [1] its major version, [2] the TDX microcode SVN (default ${SIM_TD.teeTcbSvn.toString('hex')}: current against the sim collateral)`,
  },
  'tee-tcb-svn2': { type: 'string', arg: 'HEX', help: 'with --td-report 1.5: TEE_TCB_SVN_2, the module already loaded (default: TEE_TCB_SVN)' },
} as const satisfies FlagSpecs;

export const SIM_QUOTE = {
  synopsis:
    'sim quote [--pki DIR] [--report-data HEX] [--mrenclave HEX] [--mrsigner HEX] [--isvprodid N] [--isvsvn N] [--debug] [platform flags] [--format bin|hex|base64] [--out FILE]\n' +
    'sim quote --tee tdx [--pki DIR] [--report-data HEX] [--mrtd HEX] [--rtmr0..3 HEX] [--tee-tcb-svn HEX] [--quote-version 4|5] [--td-report 1.0|1.5] [--debug] [platform flags] [--format bin|hex|base64] [--out FILE]',
  summary: 'a quote from the sim quoting enclave: an SGX enclave\'s, or with --tee tdx a TDX trust domain\'s from the sim TD quoting enclave (stdout: hex unless --format)',
  flags: {
    ...PKI_FLAG,
    tee: { type: 'string', arg: 'sgx|tdx', help: 'whose quote: an SGX enclave (default) or a TDX trust domain' },
    'report-data': { type: 'string', arg: 'HEX', help: 'report data, at most 64 bytes (zero-padded)' },
    ...IDENTITY_FLAGS,
    mrsigner: { type: 'string', arg: 'HEX', help: 'MRSIGNER, 32 bytes' },
    debug: { type: 'boolean', help: 'a debug enclave (with --tee tdx: TD_ATTRIBUTES.DEBUG set)' },
    ...TD_FLAGS,
    fmspc: { type: 'string', arg: 'HEX', help: 'the platform FMSPC, 6 bytes' },
    ca: { type: 'string', arg: 'processor|platform', help: 'which PCK CA issued the platform (default processor)' },
    'tcb-status': { type: 'string', arg: 'STATUS', help: `the platform's TCB status: ${TCB_STATUSES.join(', ')}` },
    'qe-svn': { type: 'string', arg: 'N', help: "the quoting enclave's ISVSVN" },
    'quote-version': { type: 'string', arg: '3|4|5', help: 'quote format version (default 3; with --tee tdx 4, or 5 for --td-report 1.5)' },
    format: { type: 'string', arg: 'bin|hex|base64', help: 'output encoding (default hex on stdout, bin with --out)' },
    out: { type: 'string', arg: 'FILE', help: 'write the quote to FILE' },
    ...JSON_FLAG,
  },
  notes:
    'The collateral for a TD quote: `warden sim collateral --tee tdx` (or `verify --dev`, `sim pccs`). ' +
    'With the default TEE_TCB_SVN and --tcb-status the TD verifies with that status; an older TEE_TCB_SVN (e.g. 05010200000000000000000000000000) lands on an older TDX level.',
} as const satisfies CommandHelp;

export type SimQuoteValues = { [K in keyof typeof SIM_QUOTE.flags]?: (typeof SIM_QUOTE.flags)[K]['type'] extends 'boolean' ? boolean : string };

export function hexFlag(value: string | undefined, flag: string, len: number, exact = true): Buffer | undefined {
  if (value === undefined) return undefined;
  const v = value.startsWith('0x') ? value.slice(2) : value;
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) throw new UsageError(`--${flag} must be hex`);
  const b = Buffer.from(v, 'hex');
  if (exact ? b.length !== len : b.length > len) throw new UsageError(`--${flag} must be ${exact ? '' : 'at most '}${len} bytes`);
  return b;
}

export function intFlag(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UsageError(`--${flag} must be an integer 0..${max}`);
  return Number(value);
}

export function caFlag(value: string | undefined): PckCaKind {
  if (value === undefined) return 'processor';
  if (value !== 'processor' && value !== 'platform') throw new UsageError('--ca must be processor or platform');
  return value;
}

export function fmspcFlag(value: string | undefined): string | undefined {
  return hexFlag(value, 'fmspc', 6)?.toString('hex').toUpperCase();
}

/** --tee sgx|tdx (default sgx), for sim quote and sim collateral. */
export function teeFlag(value: string | undefined): 'SGX' | 'TDX' {
  if (value === undefined || value === 'sgx') return 'SGX';
  if (value === 'tdx') return 'TDX';
  throw new UsageError('--tee must be sgx or tdx');
}

const SGX_ONLY = ['mrenclave', 'mrsigner', 'isvprodid', 'isvsvn'] as const;
const TDX_ONLY = Object.keys(TD_FLAGS) as Array<keyof typeof TD_FLAGS>;

/** The TD report fields of --tee tdx (defaults: SIM_TD, a production TD). */
function tdFields(values: SimQuoteValues, reportData: Buffer | undefined, version: 4 | 5): TdReportFields {
  const tdReport = values['td-report'] ?? '1.0';
  if (tdReport !== '1.0' && tdReport !== '1.5') throw new UsageError('--td-report must be 1.0 or 1.5');
  if (tdReport === '1.5' && version !== 5) throw new UsageError('--td-report 1.5 exists only in quote version 5');
  if (values['tee-tcb-svn2'] !== undefined && tdReport !== '1.5') throw new UsageError('--tee-tcb-svn2 is a field of TD report 1.5: add --td-report 1.5');
  const m = (flag: keyof typeof TD_FLAGS) => hexFlag(values[flag], flag, 48);
  const fields: TdReportFields = {
    version: tdReport,
    mrTd: m('mrtd'),
    rtmr0: m('rtmr0'),
    rtmr1: m('rtmr1'),
    rtmr2: m('rtmr2'),
    rtmr3: m('rtmr3'),
    mrConfigId: m('mrconfigid'),
    mrOwner: m('mrowner'),
    mrOwnerConfig: m('mrownerconfig'),
    mrSeam: m('mrseam'),
    teeTcbSvn: hexFlag(values['tee-tcb-svn'], 'tee-tcb-svn', 16),
    teeTcbSvn2: hexFlag(values['tee-tcb-svn2'], 'tee-tcb-svn2', 16),
    reportData,
    ...(values.debug ? { debug: true } : {}),
  };
  // Unset fields keep the sim TD's defaults (encodeTdReport reads `undefined` as "default").
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as TdReportFields;
}

/** The quote the flags describe, from `pki`'s platform. Usage mistakes throw UsageError before anything is made. */
export async function simQuoteFromFlags(values: SimQuoteValues, pki: Pick<SimPki, 'platform'>): Promise<{ quote: Buffer; tee: 'SGX' | 'TDX' }> {
  const tee = teeFlag(values.tee);
  const misplaced = tee === 'TDX' ? SGX_ONLY.find((f) => values[f] !== undefined) : TDX_ONLY.find((f) => values[f] !== undefined);
  if (misplaced) {
    throw new UsageError(
      tee === 'TDX' ? `--${misplaced} describes an SGX enclave; a TD is described by --mrtd, --rtmr0..3 and the other TD flags` : `--${misplaced} describes a TDX trust domain: add --tee tdx`,
    );
  }
  const tdReport15 = values['td-report'] === '1.5';
  const version = values['quote-version'] ?? (tee === 'TDX' ? (tdReport15 ? '5' : '4') : '3');
  if (version !== '3' && version !== '4' && version !== '5') throw new UsageError('--quote-version must be 3, 4 or 5');
  if (tee === 'TDX' && version === '3') throw new UsageError('a TDX quote is version 4 or 5 (--quote-version 4|5)');
  const status = values['tcb-status'];
  if (status !== undefined && !(TCB_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--tcb-status must be one of ${TCB_STATUSES.join(', ')}`);
  }
  const reportData = hexFlag(values['report-data'], 'report-data', 64, false);
  const qeSvn = intFlag(values['qe-svn'], 'qe-svn', 0xffff);
  const fmspc = fmspcFlag(values.fmspc);
  const ca = caFlag(values.ca);
  let body: Pick<QuoteOptions, 'report' | 'td'>;
  if (tee === 'TDX') {
    body = { td: tdFields(values, reportData, Number(version) as 4 | 5) };
  } else {
    const mrEnclave = hexFlag(values.mrenclave, 'mrenclave', 32);
    const mrSigner = hexFlag(values.mrsigner, 'mrsigner', 32);
    const isvProdId = intFlag(values.isvprodid, 'isvprodid', 0xffff);
    const isvSvn = intFlag(values.isvsvn, 'isvsvn', 0xffff);
    body = {
      report: {
        ...(reportData ? { reportData } : {}),
        ...(mrEnclave ? { mrEnclave } : {}),
        ...(mrSigner ? { mrSigner } : {}),
        ...(isvProdId !== undefined ? { isvProdId } : {}),
        ...(isvSvn !== undefined ? { isvSvn } : {}),
        ...(values.debug ? { debug: true } : {}),
      },
    };
  }
  const platform = await pki.platform({
    ca,
    ...(fmspc ? { fmspc } : {}),
    ...(status ? tcbForStatus(status as TcbStatus) : {}),
  });
  const quote = makeQuote({
    platform,
    version: Number(version) as 3 | 4 | 5,
    ...body,
    ...(qeSvn !== undefined ? { qeReport: { isvSvn: qeSvn } } : {}),
  });
  return { quote, tee };
}
