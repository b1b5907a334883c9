#!/usr/bin/env node
import { NODE_ADVICE, nodeIsRecentEnough } from './node-check.js';

if (!nodeIsRecentEnough()) {
  process.stderr.write(`larder-server: ${NODE_ADVICE}\n`);
  process.exit(1);
}
await import('../server/main.ts');
