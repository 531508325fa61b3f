#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `npx warden` and the tests run the same code.
import { register } from 'tsx/esm/api';

// A reader that goes away (`warden ... | head`) is not an error worth a stack trace: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
