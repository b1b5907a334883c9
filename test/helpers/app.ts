import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../server/app.ts';
import { FsStore } from '../../server/storage/fs.ts';
import { sha256Digest } from '../../shared/wire/digest.ts';
import type { Manifest } from '../../shared/wire/manifest.ts';
import { tempDir } from './tmp.ts';

/** An app over a fresh disk store, for inject(). */
export async function injectableApp(t: { teardown: (fn: () => void | Promise<void>) => void }, options: Omit<AppOptions, 'store'> = {}): Promise<{ app: FastifyInstance; storeDir: string }> {
  const storeDir = tempDir(t, 'larder-app');
  const app = await buildApp({ ...options, store: await new FsStore(storeDir).init() });
  t.teardown(() => app.close());
  return { app, storeDir };
}

export async function putBlob(app: FastifyInstance, ns: string, data: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256Digest(data);
  const res = await app.inject({ method: 'PUT', url: `/v1/ns/${ns}/blobs/${digest}`, headers: { ...headers, 'content-type': 'application/octet-stream' }, payload: data });
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`put blob: ${res.statusCode} ${res.body}`);
  return digest;
}

export function manifestFor(key: string, digests: string[]): Manifest {
  return {
    version: 1,
    key,
    createdAt: new Date().toISOString(),
    codec: 'zstd',
    paths: [{ path: 'node_modules', parts: digests.map((digest) => ({ digest, size: 1, rawSize: 1024, entries: 1 })), files: 1, fileBytes: 1 }],
    inputs: { '{os}': 'linux' },
    client: { version: '0.1.0', os: 'linux', arch: 'x64' },
  };
}
