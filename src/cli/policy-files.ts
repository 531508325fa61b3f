// Reads a policy directory for the CLI: every *.yaml / *.yml file directly in it, sorted by name.
import fs from 'node:fs';
import path from 'node:path';
import type { PolicyFileText } from '../policy/load.ts';
import { UsageError } from './io.ts';

const MAX_FILES = 1000;

export function readPolicyFiles(dir: string): PolicyFileText[] {
  let names: string[];
  try {
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`policy directory '${dir}' is not a directory`);
    names = fs.readdirSync(dir).filter((n) => /\.ya?ml$/i.test(n)).sort();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read policy directory '${dir}': ${code === 'ENOENT' ? 'no such directory' : code ?? 'error'}`);
  }
  if (names.length > MAX_FILES) throw new UsageError(`policy directory '${dir}' holds more than ${MAX_FILES} policy files`);
  return names.map((n) => {
    const file = path.join(dir, n);
    try {
      return { file, text: fs.readFileSync(file, 'utf8') };
    } catch (e) {
      throw new UsageError(`cannot read policy file '${file}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  });
}
