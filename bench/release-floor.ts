// The transport floor of a key release, for comparison in the same run: Fastify over HTTPS answering
// the same two requests with responses of the same shape and size, doing none of Warden's work (no
// database, no verification, no HPKE, no token). Started by bench/release.ts with the same TLS files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Fastify from 'fastify';

const [keyFile, certFile] = process.argv.slice(2);
if (!keyFile || !certFile) throw new Error('usage: release-floor.ts KEY CERT');
const app = Fastify({ logger: false, https: { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, bodyLimit: 128 * 1024 });
// A token of about the size Warden's EAR tokens have.
const token = crypto.randomBytes(700).toString('base64url');
app.post('/v1/challenge', async () => ({ nonce: crypto.randomBytes(32).toString('base64'), expiresAt: new Date().toISOString() }));
app.post('/v1/attest', async (req) => {
  const body = req.body as { nonce?: unknown; quote?: unknown };
  if (typeof body?.nonce !== 'string' || typeof body.quote !== 'string') throw new Error('bad body');
  return {
    token,
    secrets: [{ name: 'bench-key', version: 1, enc: crypto.randomBytes(65).toString('base64'), ciphertext: crypto.randomBytes(48).toString('base64') }],
    policy: 'bench',
    tcbStatus: 'UpToDate',
  };
});
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
process.stdout.write(`warden listening on https://127.0.0.1:${addr && typeof addr === 'object' ? addr.port : 0}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
