import type { ExtractResult } from './tar-read.ts';
import { CacheClient } from './transfer.ts';
import { extractPart, extractPartBuffer, IN_MEMORY_PART_LIMIT, readPart } from './unpack.ts';
import type { PartJob, PartWorkerData } from './worker-pool.ts';

// A restore's job in a part worker: download → verify → unzstd → write into staging.

let client: CacheClient | undefined;

export async function extractJob(job: Extract<PartJob, { kind: 'extract' }>, data: PartWorkerData): Promise<ExtractResult> {
  if (!data.server) throw new Error('no server given to this worker');
  client ??= new CacheClient({ server: data.server, namespace: data.namespace, token: data.token, idleTimeoutMs: data.idleTimeoutMs });
  const body = await client.getBlob(job.part.digest);
  return job.part.size <= IN_MEMORY_PART_LIMIT ? extractPartBuffer(await readPart(body, job.part), job.part, job.root) : extractPart(body, job.part, job.root);
}
