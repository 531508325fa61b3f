import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatImageKey, parseImageKey } from '../src/secrets/image-key.ts';

test('Occlum image-key format: 16 dash-separated lower-case hex bytes and a newline', () => {
  const key = Buffer.from('a56d7fcfae93e21f5b8a833f797829ff', 'hex');
  const text = formatImageKey(key);
  assert.equal(text, 'a5-6d-7f-cf-ae-93-e2-1f-5b-8a-83-3f-79-78-29-ff\n');
  assert.equal(text.length, 48);
  assert.deepEqual(parseImageKey(text), key);
  assert.deepEqual(parseImageKey(text.toUpperCase().replace('\n', '\r\n')), key);
  assert.equal(parseImageKey('a5-6d'), null);
  assert.equal(parseImageKey(text.replace('a5', 'zz')), null);
  assert.throws(() => formatImageKey(Buffer.alloc(15)));
});
