import { isAbsolute, join, resolve } from 'node:path';

/** A path as the user wrote it (`node_modules`, `~/.m2/repository`) made absolute. */
export function resolveUserPath(path: string, cwd: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(cwd, path);
}
