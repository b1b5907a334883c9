import { entryCacheCount } from '../local/entry-cache.ts';
import { partCacheInfo, partsDir, prunePartCache } from '../local/part-cache.ts';
import type { ClientOptions } from '../options.ts';
import type { Io } from './context.ts';

// larder cache info | prune: the local part cache (client/local/), which makes switching
// back to a tree this machine had a local copy, and restores work offline.

export async function cacheCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number }> {
  const dir = partsDir(options.cacheDir);
  const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (options.argument === 'prune') {
    const removed = prunePartCache(dir, options.localCacheMaxBytes);
    const left = partCacheInfo(dir);
    if (options.json) {
      io.out(`${JSON.stringify({ removed, left, maxBytes: options.localCacheMaxBytes })}\n`);
      return { exitCode: 0 };
    }
    io.out(`larder cache: removed ${removed.parts} part(s), ${gb(removed.bytes)}; ${left.parts} part(s), ${gb(left.bytes)} left (cap ${gb(options.localCacheMaxBytes)})\n`);
    return { exitCode: 0 };
  }
  const info = partCacheInfo(dir);
  const state = options.localCache ? 'on' : `off${io.env.CI === 'true' ? ' (CI=true; LARDER_LOCAL_CACHE=1 turns it on)' : ' (LARDER_LOCAL_CACHE=0)'}`;
  if (options.json) {
    io.out(`${JSON.stringify({ folder: options.cacheDir, on: options.localCache, parts: info.parts, bytes: info.bytes, entries: entryCacheCount(options.cacheDir), maxBytes: options.localCacheMaxBytes })}\n`);
    return { exitCode: 0 };
  }
  io.out(`local cache  ${options.cacheDir}\n  state      ${state}\n  parts      ${info.parts} (${gb(info.bytes)} of ${gb(options.localCacheMaxBytes)})\n  entries    ${entryCacheCount(options.cacheDir)}\n`);
  return { exitCode: 0 };
}
