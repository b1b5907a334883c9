import type { StoreConfig } from '../config.ts';
import { FsStore } from './fs.ts';
import type { Store } from './store.ts';

export async function openStore(config: StoreConfig): Promise<Store> {
  if (config.kind === 's3') {
    // Loaded only when used: the AWS SDK adds ~50 MB of RSS and start-up time to a disk-store server.
    const { S3Store } = await import('./s3.ts');
    return new S3Store(config);
  }
  return new FsStore(config.root).init();
}
