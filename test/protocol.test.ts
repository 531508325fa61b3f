// The wire format, pinned: the server's code reproduces the golden vectors (test/vectors/protocol-v1.json),
// the independent enclave-side code opens them, the request/response types are what openapi.yaml
// generates, and the copies of the secret-name rule in JSON files match its one definition.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { importP256PrivateKey, publicKeyBytes } from '../src/crypto/p256.ts';
import { NONCE_BYTES } from '../src/protocol/defaults.ts';
import { HPKE_SUITE, SECRET_INFO_PREFIX, WARDEN_SUITE, secretAad, secretInfo, serverKeyId } from '../src/protocol/sealing.ts';
import { SECRET_NAME_PATTERN, isSecretName } from '../src/protocol/secret-name.ts';
import { BINDING_LABEL, bindsNonceAndKey, expectedReportData } from '../src/protocol/wire.ts';
import { openSecret, sealSecret } from '../src/secrets/sealing.ts';
import { loadOpenApi } from '../src/server/openapi.ts';
import { REPO_ROOT } from './helpers/fixtures.ts';
import { enclaveKeyPair, openSealedSecret, reportDataFor, VECTORS, vectorBytes as hex } from './helpers/enclave-side.ts';
import { API_TYPES_FILE, generateApiTypes } from './helpers/openapi-types.ts';

const V = VECTORS;
const nonce = hex(V.nonce);
const enclavePk = hex(V.enclaveKey.publicKey);
const serverSk = importP256PrivateKey(hex(V.serverKey.privateKey));
const serverPk = hex(V.serverKey.publicKey);

describe('golden vectors: the server side reproduces them', () => {
  test('constants: label, info prefix, suite, nonce size', () => {
    assert.equal(BINDING_LABEL.toString('ascii'), V.bindingLabel);
    assert.equal(SECRET_INFO_PREFIX, V.secretInfoPrefix);
    assert.deepEqual({ ...HPKE_SUITE }, V.suite);
    assert.equal(WARDEN_SUITE, V.suite.name);
    assert.equal(nonce.length, NONCE_BYTES);
  });

  test('keys and serverKeyId', () => {
    assert.deepEqual(publicKeyBytes(importP256PrivateKey(hex(V.enclaveKey.privateKey))), enclavePk);
    assert.deepEqual(publicKeyBytes(serverSk), serverPk);
    assert.equal(serverKeyId(serverPk), V.serverKey.serverKeyId);
  });

  test('attestRequest: the body an enclave sends names the pinned key by its serverKeyId, and is what openapi.yaml accepts', () => {
    const a = V.attestRequest;
    assert.deepEqual(Object.keys(a).sort(), ['nonce', 'publicKey', 'quote', 'secrets', 'serverKeyId']);
    assert.equal(a.serverKeyId, serverKeyId(serverPk));
    assert.equal(a.serverKeyId, V.serverKey.serverKeyId);
    assert.deepEqual(Buffer.from(a.nonce, 'base64'), nonce);
    assert.deepEqual(Buffer.from(a.publicKey, 'base64'), enclavePk);
    assert.deepEqual(a.secrets, V.secrets.map((s) => s.name));
    const route = loadOpenApi().routes.find((r) => r.method === 'POST' && r.openapiPath === '/v1/attest');
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(route!.body!);
    assert.ok(validate(a), JSON.stringify(validate.errors));
    assert.ok(!validate({ ...a, serverKeyId: a.serverKeyId.toUpperCase() }), 'a serverKeyId is lowercase hex');
  });

  test('report data binds the nonce and the enclave key', () => {
    assert.equal(expectedReportData(nonce, enclavePk).toString('hex'), V.reportData);
    assert.ok(bindsNonceAndKey(hex(V.reportData), nonce, enclavePk));
    const other = Buffer.from(nonce);
    other[0]! ^= 1;
    assert.ok(!bindsNonceAndKey(hex(V.reportData), other, enclavePk));
  });

  for (const s of V.secrets) {
    test(`sealing ${s.name} with the vector's ephemeral key gives its enc and ciphertext, and opens`, () => {
      assert.equal(secretInfo(s.name).toString('hex'), s.info);
      assert.equal(secretAad(nonce).toString('hex'), s.aad);
      const sealed = sealSecret({ recipientPublicKey: enclavePk, senderPrivateKey: serverSk, name: s.name, nonce, value: hex(s.value), ephemeralPrivateKey: importP256PrivateKey(hex(s.ephemeralPrivateKey)) });
      assert.equal(sealed.enc.toString('hex'), s.enc);
      assert.equal(sealed.ciphertext.toString('hex'), s.ciphertext);
      const opened = openSecret({ recipientPrivateKey: importP256PrivateKey(hex(V.enclaveKey.privateKey)), senderPublicKey: serverPk, name: s.name, nonce, enc: hex(s.enc), ciphertext: hex(s.ciphertext) });
      assert.equal(opened.toString('hex'), s.value);
    });
  }
});

describe('golden vectors: the independent enclave side agrees', () => {
  test('report data', () => {
    assert.equal(reportDataFor(nonce, enclavePk).toString('hex'), V.reportData);
    assert.deepEqual(enclaveKeyPair(hex(V.enclaveKey.privateKey)).publicKey, enclavePk);
  });

  for (const s of V.secrets) {
    test(`opens ${s.name}, and refuses any changed input`, () => {
      const base = { recipientPrivateKey: hex(V.enclaveKey.privateKey), senderPublicKey: serverPk, name: s.name, nonce, enc: hex(s.enc), ciphertext: hex(s.ciphertext) };
      assert.equal(openSealedSecret(base).toString('hex'), s.value);
      const flip = (b: Buffer, i: number) => {
        const c = Buffer.from(b);
        c[i]! ^= 1;
        return c;
      };
      assert.throws(() => openSealedSecret({ ...base, ciphertext: flip(base.ciphertext, 0) }));
      assert.throws(() => openSealedSecret({ ...base, nonce: flip(nonce, 31) }));
      assert.throws(() => openSealedSecret({ ...base, name: `${s.name}x` }));
      assert.throws(() => openSealedSecret({ ...base, senderPublicKey: enclavePk }));
    });
  }
});

test('src/protocol/api.ts is what openapi.yaml generates (regenerate: node --import tsx test/helpers/openapi-types.ts --write)', () => {
  const same = readFileSync(API_TYPES_FILE, 'utf8') === generateApiTypes(readFileSync(join(REPO_ROOT, 'openapi.yaml'), 'utf8'));
  assert.ok(same, 'src/protocol/api.ts is stale: openapi.yaml changed; run node --import tsx test/helpers/openapi-types.ts --write');
});

test('the secret-name rule has one definition: openapi.yaml and the policy schema carry it exactly', () => {
  const openapi = parse(readFileSync(join(REPO_ROOT, 'openapi.yaml'), 'utf8')) as { components: { schemas: { SecretName: { pattern: string } } } };
  assert.equal(openapi.components.schemas.SecretName.pattern, SECRET_NAME_PATTERN);
  const policy = JSON.parse(readFileSync(join(REPO_ROOT, 'src/policy/policy.schema.json'), 'utf8')) as { definitions: { secretName: { pattern: string } } };
  assert.equal(policy.definitions.secretName.pattern, SECRET_NAME_PATTERN);
  for (const ok of ['a', 'app-image-key', 'db.password_v2', 'x'.repeat(64)]) assert.ok(isSecretName(ok), ok);
  for (const bad of ['', 'A', 'App', '-a', '.a', 'a b', 'x'.repeat(65), 'é']) assert.ok(!isSecretName(bad), bad);
});
