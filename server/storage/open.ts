import type { StoreConfig } from '../config.ts';
import { FsStore } from './fs.ts';
import type { Store } from './store.ts';

export async function openStore(config: StoreConfig): Promise<Store> {
  return new FsStore(config.root).init();
}
