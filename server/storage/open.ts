import type { StoreConfig } from '../config.ts';
import { FsStore } from './fs.ts';
import { S3Store } from './s3.ts';
import type { Store } from './store.ts';

export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.kind === 's3') return new S3Store(config);
  return new FsStore(config.root).init();
}
