import { readFileSync } from 'node:fs';

// The client package's build replaces __LARDER_VERSION__ with the version (the bundle has
// no package.json of the repository beside it); from the sources it is read.
declare const __LARDER_VERSION__: string | undefined;

export const LARDER_VERSION: string =
  typeof __LARDER_VERSION__ === 'string' ? __LARDER_VERSION__ : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
