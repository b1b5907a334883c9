import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { LARDER_VERSION } from '../../shared/version.ts';

// The client files this server was built with (npm run build:client, build:executable;
// the Docker image has both), so a job with no internet, inside a VPC, fetches the client
// from the cache itself with one curl. Open to anyone, like the probes: it is the public
// client, and a job has no token before it has the client.
//   GET /client/                   what there is: name, size, sha256 of each
//   GET /client/larder.tgz         the npm package (npm i -g ./larder.tgz)
//   GET /client/larder-linux-x64   the single executable (and any other platform built)

export interface ClientFile {
  name: string;
  path: string;
  size: number;
}

/** The files in dir this version serves, by the name they are served under. */
export function clientFilesIn(dir: string | undefined): Map<string, ClientFile> {
  const files = new Map<string, ClientFile>();
  if (!dir) return files;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  const add = (name: string, file: string): void => {
    const info = statSync(join(dir, file), { throwIfNoEntry: false });
    if (info?.isFile()) files.set(name, { name, path: join(dir, file), size: info.size });
  };
  if (names.includes(`larder-${LARDER_VERSION}.tgz`)) add('larder.tgz', `larder-${LARDER_VERSION}.tgz`);
  for (const name of names.filter((n) => /^larder-(linux|darwin|win32)-(x64|arm64)(\.exe)?$/.test(n))) add(name, name);
  return files;
}

export async function clientFileRoutes(app: FastifyInstance, { dir }: { dir: string | undefined }): Promise<void> {
  const files = clientFilesIn(dir);
  const digests = new Map<string, Promise<string>>();
  const digestOf = (file: ClientFile): Promise<string> => {
    let digest = digests.get(file.name);
    if (!digest) {
      digest = new Promise((resolve, reject) => {
        const hash = createHash('sha256');
        createReadStream(file.path).on('data', (d) => hash.update(d)).once('error', reject).once('end', () => resolve(hash.digest('hex')));
      });
      digests.set(file.name, digest);
    }
    return digest;
  };
  const none = (): LarderError => new LarderError('LARDER_NOT_FOUND', 'this server has no such client file; build them beside it with npm run build:client and npm run build:executable (the Docker image has them)');

  app.get('/client/', async () => ({
    version: LARDER_VERSION,
    files: await Promise.all([...files.values()].map(async (f) => ({ name: f.name, size: f.size, sha256: await digestOf(f), url: `/client/${f.name}` }))),
  }));

  app.get<{ Params: { name: string } }>('/client/:name', async (request, reply) => {
    const file = files.get(request.params.name);
    if (!file) throw none();
    return reply
      .type('application/octet-stream')
      .header('content-length', file.size)
      .header('content-disposition', `attachment; filename="${file.name}"`)
      .header('x-larder-version', LARDER_VERSION)
      .send(createReadStream(file.path));
  });
}
