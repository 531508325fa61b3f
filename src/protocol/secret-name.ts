// The secret-name rule, defined once. The policy schema (src/policy/policy.schema.json), openapi.yaml's
// SecretName, the secret store, the CLI and the enclave's init (occlum-image/init) all apply exactly this;
// test/protocol.test.ts checks the JSON copies against it. Names need no escaping in JSON, URLs, logs or
// file names, and are the same bytes in the HPKE info on both sides.

/** 1 to 64 characters: lower-case letters, digits, '.', '_', '-'; the first a letter or digit. */
export const SECRET_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
export const SECRET_NAME_RE = new RegExp(SECRET_NAME_PATTERN);
export const SECRET_NAME_MAX = 64;
export const SECRET_NAME_RULE = 'lower-case letters, digits, . _ - (1 to 64 characters, starting with a letter or digit)';

export function isSecretName(name: unknown): name is string {
  return typeof name === 'string' && SECRET_NAME_RE.test(name);
}
