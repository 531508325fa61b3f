// The policy set in force, read from a directory of YAML files; a reload that fails keeps the old set.
import fs from 'node:fs';
import path from 'node:path';
import { loadPolicies, type PolicyFileText } from '../policy/load.ts';
import { WardenError } from '../protocol/errors.ts';
import type { LintWarning, PolicySet } from '../policy/types.ts';
import type { PolicySource } from './deps.ts';

export class PolicyLoadError extends WardenError<'policy_load_failed'> {
  constructor(message: string) {
    super('policy_load_failed', message);
    this.name = 'PolicyLoadError';
  }
}

/**
 * Read and load every *.yaml / *.yml file of `dir` (plus `extra` files that are not in it: the built-in
 * policy of development mode); throws PolicyLoadError naming each problem.
 */
export function loadPolicyDir(dir: string, extra: readonly PolicyFileText[] = []): { set: PolicySet; warnings: LintWarning[] } {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /\.ya?ml$/i.test(n)).sort();
  } catch (e) {
    throw new PolicyLoadError(`cannot read policy directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const files = names.map((n) => {
    const file = path.join(dir, n);
    try {
      return { file, text: fs.readFileSync(file, 'utf8') };
    } catch (e) {
      throw new PolicyLoadError(`cannot read policy file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  });
  const result = loadPolicies([...files, ...extra]);
  if (!result.set) {
    const first = result.issues.slice(0, 5).map((i) => `${i.file}${i.line ? `:${i.line}` : ''}: ${i.message}`);
    throw new PolicyLoadError(`${result.issues.length} problem(s) in policy files: ${first.join('; ')}`);
  }
  return { set: result.set, warnings: result.warnings };
}

export class DirectoryPolicySource implements PolicySource {
  private set: PolicySet;
  constructor(
    private readonly dir: string,
    /** Called after every successful load with its lint warnings and the new set. */
    private readonly onWarnings: (w: LintWarning[], set: PolicySet) => void = () => {},
    private readonly extra: readonly PolicyFileText[] = [],
  ) {
    const { set, warnings } = loadPolicyDir(dir, extra);
    this.set = set;
    onWarnings(warnings, set);
  }
  current(): PolicySet {
    return this.set;
  }
  reload(): PolicySet {
    const { set, warnings } = loadPolicyDir(this.dir, this.extra);
    this.set = set;
    this.onWarnings(warnings, set);
    return set;
  }
}
