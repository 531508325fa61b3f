#!/usr/bin/env node
// Renders the init configuration (initfs /etc/warden/init.json) from warden-init.json and the operator's
// values. Used by build.sh and by the tests, so what the tests validate is what goes into the image.
// usage: node render-config.mjs --url URL --hpke BASE64 [--secret NAME] [--extra NAME:/path[:mode]]... [--ca-file ca.pem]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    template: { type: 'string', default: new URL('./warden-init.json', import.meta.url).pathname },
    url: { type: 'string' },
    hpke: { type: 'string' },
    secret: { type: 'string' },
    extra: { type: 'string', multiple: true, default: [] },
    'ca-file': { type: 'string', default: 'ca.pem' },
  },
});
if (!values.url || !values.hpke) {
  process.stderr.write('render-config: --url and --hpke are required\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(values.template, 'utf8'));
config.url = values.url;
config.caFile = values['ca-file'];
config.serverHpkePublicKey = values.hpke;
if (values.secret) config.rootfsKeySecret = values.secret;
config.secrets = values.extra.map((s) => {
  const [name, path, mode] = s.split(':');
  return mode ? { name, path, mode } : { name, path };
});
process.stdout.write(JSON.stringify(config, null, 2) + '\n');
