import type { Retention } from '../retention/retention.ts';
import type { Stats } from '../stats.ts';
import type { Store } from '../storage/store.ts';

export interface Limits {
  /** largest blob (one compressed part) accepted */
  maxBlobBytes: number;
  /** largest manifest accepted */
  maxManifestBytes: number;
}

/** What every route plugin is handed. */
export interface RouteDeps {
  store: Store;
  stats: Stats;
  limits: Limits;
  retention: Retention;
}
