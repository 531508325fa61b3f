// Where Warden's state lives: one rule for every command (and `warden serve`).
import path from 'node:path';

export const DEFAULT_DATA_DIR = './data';

/** The data directory: --data, else $WARDEN_DATA, else ./data. */
export function dataDirOf(flag?: string | undefined): string {
  const env = process.env['WARDEN_DATA'];
  return path.resolve(flag ?? (env !== undefined && env !== '' ? env : DEFAULT_DATA_DIR));
}

/** The simulated PKI of a data directory (`serve --dev` creates it there). */
export function simPkiDirOf(dataFlag?: string | undefined): string {
  return path.join(dataDirOf(dataFlag), 'sim-pki');
}
