// Hand-built verification results and policy texts for policy tests.
import type { SgxEvaluationInput } from '../src/policy/evaluate.ts';
import { loadPolicies } from '../src/policy/load.ts';
import type { PolicySet } from '../src/policy/types.ts';

export const MRENCLAVE = 'aa'.repeat(32);
export const MRSIGNER = 'bb'.repeat(32);

export function verificationFor(over: Partial<Omit<SgxEvaluationInput, 'report'>> & { report?: Partial<SgxEvaluationInput['report']> } = {}): SgxEvaluationInput {
  const { report, ...rest } = over;
  return {
    status: 'UpToDate',
    advisoryIds: [],
    tcbDate: '2024-03-13T00:00:00Z',
    collateralIssuedAt: new Date('2025-01-10T00:00:00Z'),
    ...rest,
    report: {
      mrEnclave: Buffer.from(MRENCLAVE, 'hex'),
      mrSigner: Buffer.from(MRSIGNER, 'hex'),
      isvProdId: 4,
      isvSvn: 7,
      configSvn: 0,
      isvFamilyId: Buffer.alloc(16),
      isvExtProdId: Buffer.alloc(16),
      configId: Buffer.alloc(64),
      debug: false,
      ...report,
    },
  };
}

/** Loads YAML texts (file name → text) and fails loudly if they do not load. */
export function setOf(files: Record<string, string>): PolicySet {
  const r = loadPolicies(Object.entries(files).map(([file, text]) => ({ file, text })));
  if (!r.set) throw new Error(`policies do not load: ${JSON.stringify(r.issues)}`);
  return r.set;
}

export const NOW = new Date('2025-01-15T00:00:00Z');
