// The Occlum instance template (occlum-image/): Occlum.json and the init configuration match their
// documented structure, the metadata is what an example policy expects, and the init refuses bad configs.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parsePolicyText } from '../src/policy/parse.ts';
import { createDevCerts } from '../src/server/dev-certs.ts';
import { IMAGE_DIR, INIT_BIN, REPO, buildOcclumImage } from './occlum-helpers.ts';

const ajv = new Ajv({ allErrors: true, strict: false });
const readJson = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));
const occlumSchema = ajv.compile(readJson(join(IMAGE_DIR, 'schema', 'occlum.schema.json')) as object);
const configSchema = ajv.compile(readJson(join(IMAGE_DIR, 'schema', 'init-config.schema.json')) as object);

interface OcclumJson {
  metadata: { product_id: number; version_number: number; debuggable: boolean };
}

const tmp = mkdtempSync(join(os.tmpdir(), 'warden-occlum-image-'));
const caFile = join(tmp, 'certs', 'ca.pem'); // created in before()
const hpkeKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).subarray(-65).toString('base64');

function render(extra: string[] = []): Record<string, unknown> {
  const out = execFileSync('node', [join(IMAGE_DIR, 'render-config.mjs'), '--url', 'https://warden.example:8443', '--hpke', hpkeKey, '--secret', 'payments-image-key', ...extra], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

function check(config: unknown) {
  const file = join(tmp, `config-${crypto.randomUUID()}.json`);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return spawnSync(INIT_BIN, ['--check', file], { encoding: 'utf8' });
}

describe('occlum-image template', () => {
  before(async () => {
    buildOcclumImage();
    assert.equal((await createDevCerts(join(tmp, 'certs'), ['warden.example'])).caCert, caFile);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('Occlum.json has the documented structure: encrypted unionfs root, not debuggable', () => {
    const occlum = readJson(join(IMAGE_DIR, 'Occlum.json'));
    assert.ok(occlumSchema(occlum), JSON.stringify(occlumSchema.errors));
    const broken = structuredClone(occlum) as OcclumJson;
    broken.metadata.debuggable = true;
    assert.equal(occlumSchema(broken), false, 'the schema must refuse a debuggable enclave');
  });

  it('its product_id and version_number are accepted by an example policy in policies/', () => {
    const { metadata } = readJson(join(IMAGE_DIR, 'Occlum.json')) as OcclumJson;
    const files = readdirSync(join(REPO, 'policies')).filter((f) => f.endsWith('.yaml'));
    const matching = files.flatMap((f) => {
      const { policy } = parsePolicyText(f, readFileSync(join(REPO, 'policies', f), 'utf8'));
      if (!policy || policy.debug !== 'deny') return [];
      return policy.match.filter((m) => m.mrSigner !== undefined && m.isvProdId === metadata.product_id && (m.minIsvSvn ?? 0) <= metadata.version_number).map(() => f);
    });
    assert.ok(matching.length > 0, `no policy matches ISVPRODID ${metadata.product_id} / ISVSVN ${metadata.version_number}`);
  });

  it('the rendered init configuration matches its schema and the init accepts it', () => {
    const config = render(['--extra', 'payments-db-password:/etc/app/db-password:0400']);
    assert.ok(configSchema(config), JSON.stringify(configSchema.errors));
    const r = check({ ...config, caFile });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /config ok: https:\/\/warden\.example:8443, root key secret 'payments-image-key', 1 further secret/);
  });

  it('the unrendered template cannot boot: its placeholder HPKE key is refused', () => {
    const template = readJson(join(IMAGE_DIR, 'warden-init.json'));
    assert.ok(configSchema(template), JSON.stringify(configSchema.errors));
    const r = check({ ...(template as object), caFile });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'warden-init: config: serverHpkePublicKey must be base64 of an uncompressed P-256 point (65 bytes)\n');
  });

  const base = () => ({ ...render(), caFile });
  // The fourth field: false where only the init can tell (port range, file existence, uniqueness).
  const refusals: [string, unknown, RegExp, boolean?][] = [
    ['plain http', { ...base(), url: 'http://warden.example' }, /url must start with https:\/\//],
    ['user info in the url', { ...base(), url: 'https://user@warden.example' }, /user info, query or fragment/],
    ['a port out of range', { ...base(), url: 'https://warden.example:70000' }, /bad port/, false],
    ['an unknown member', { ...base(), insecure: true }, /unknown member/],
    ['a missing member', { ...base(), rootfsKeySecret: undefined }, /missing "rootfsKeySecret"/],
    ['a truncated HPKE key', { ...base(), serverHpkePublicKey: hpkeKey.slice(0, 40) }, /serverHpkePublicKey/],
    ['a missing CA file', { ...base(), caFile: join(tmp, 'nope.pem') }, /caFile .* is not readable/, false],
    ['a CA file without a certificate', { ...base(), caFile: join(IMAGE_DIR, 'Occlum.json') }, /caFile .* holds no usable PEM certificate/, false],
    ['a secret path with ..', { ...base(), secrets: [{ name: 'a', path: '/etc/../shadow' }] }, /absolute path without/],
    ['a relative secret path', { ...base(), secrets: [{ name: 'a', path: 'etc/a' }] }, /absolute path without/],
    ['a bad secret name', { ...base(), secrets: [{ name: 'a b', path: '/a' }] }, /name must be/],
    ['a bad mode', { ...base(), secrets: [{ name: 'a', path: '/a', mode: '777' }] }, /mode must be an octal string/],
    ['a repeated path', { ...base(), secrets: [{ name: 'a', path: '/a' }, { name: 'b', path: '/a' }] }, /repeats a name or path/, false],
    ['the root key repeated as a further secret', { ...base(), secrets: [{ name: 'payments-image-key', path: '/a' }] }, /repeats the root file system key/, false],
    ['a zero timeout', { ...base(), timeoutSeconds: 0 }, /timeoutSeconds/],
    ['not JSON', '{"url": ', /is not a JSON object/],
    ['a JSON array', '[]', /is not a JSON object/],
    ['deep nesting', '{"secrets":' + '['.repeat(100) + ']'.repeat(100) + '}', /is not a JSON object/],
  ];
  for (const [what, config, message, schemaCatches = true] of refusals) {
    it(`the init refuses a configuration with ${what}, in one line, exit 2`, () => {
      const r = check(config);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^warden-init: config: [^\n]+\n$/);
      assert.match(r.stderr, message);
      if (typeof config !== 'string' && schemaCatches) assert.equal(configSchema(config), false, 'schema and init must agree');
    });
  }

  it('the init binary is a position-independent executable', () => {
    const elf = readFileSync(INIT_BIN);
    assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(elf.readUInt16LE(16), 3, 'e_type must be ET_DYN (PIE)');
    const dyn = execFileSync('readelf', ['-d', INIT_BIN], { encoding: 'utf8' });
    assert.match(dyn, /FLAGS_1.*\bPIE\b/);
  });

  it('build.sh is valid bash', () => {
    execFileSync('bash', ['-n', join(IMAGE_DIR, 'build.sh')]);
  });
});
