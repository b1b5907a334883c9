import { existsSync } from 'node:fs';
import { LarderError } from '../shared/errors.ts';
import { type Manifest, MANIFEST_VERSION, type PathRecord } from '../shared/manifest.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { packPart } from './pack.ts';
import { planParts } from './parts.ts';
import { resolveUserPath } from './paths.ts';
import { type Report, secondsSince } from './report.ts';
import type { CacheClient } from './transfer.ts';
import { walkTree } from './tree.ts';
import { LARDER_VERSION } from './version.ts';

// save: walk each path → parts → zstd + sha256 → ask which blobs are missing → upload
// those → publish the manifest last. A failure anywhere publishes nothing, so no
// reader ever sees half an entry.

export interface SaveInput {
  key: string;
  inputs: { [placeholder: string]: string };
  paths: string[];
  cwd: string;
  home: string;
  concurrency: number;
  level: number;
  /** compressed parts up to this size are kept in memory for upload; bigger ones are packed twice */
  bufferLimit?: number;
  log: (line: string) => void;
}

const DEFAULT_BUFFER_LIMIT = 32 * 1024 * 1024;

export async function save(client: CacheClient, input: SaveInput): Promise<Report> {
  const started = performance.now();
  const phases: Report['phases'] = {};
  const record: Report = { command: 'save', outcome: 'saved', key: input.key, paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, partsReused: 0, seconds: 0, phases };
  const done = (): Report => ({ ...record, seconds: (performance.now() - started) / 1000 });

  if (await client.hasEntry(input.key)) return { ...done(), outcome: 'exists' };

  let mark = performance.now();
  const present = input.paths.filter((p) => {
    const exists = existsSync(resolveUserPath(p, input.cwd, input.home));
    if (!exists) input.log(`larder save: ${p} does not exist; not saved`);
    return exists;
  });
  if (present.length === 0) {
    const error = new LarderError('LARDER_PATH_NOT_FOUND', `none of ${input.paths.join(', ')} exists`);
    return { ...done(), outcome: 'skipped', error: error.toJSON() };
  }
  const trees = present.map((path) => {
    const root = resolveUserPath(path, input.cwd, input.home);
    const tree = walkTree(root);
    for (const name of tree.skipped) input.log(`larder save: ${path}/${name} is a socket, FIFO or device; not saved`);
    return { path, root, plan: planParts(tree.entries), files: tree.entries.filter((e) => e.type === 'file' || e.type === 'hardlink').length, fileBytes: tree.entries.reduce((sum, e) => sum + e.size, 0) };
  });
  phases.walk = secondsSince(mark);

  mark = performance.now();
  const tasks = trees.flatMap((tree, pathIndex) => tree.plan.map((entries) => ({ pathIndex, root: tree.root, entries })));
  const refs = await mapLimit(tasks, input.concurrency, async ({ root, entries }) => {
    const part = await packPart(root, entries, input.level, input.bufferLimit ?? DEFAULT_BUFFER_LIMIT);
    const [missing] = await client.missing([part.ref.digest]);
    if (missing) {
      const buffered = part.bytes;
      await client.putBlob(part.ref.digest, part.ref.size, buffered ? () => Buffer.concat(buffered) : part.stream);
      record.transferredBytes += part.ref.size;
    } else {
      record.partsReused = (record.partsReused ?? 0) + 1;
    }
    return part.ref;
  });
  phases.packAndUpload = secondsSince(mark);

  const paths: PathRecord[] = trees.map((tree, pathIndex) => ({
    path: tree.path,
    parts: refs.filter((_, i) => tasks[i]?.pathIndex === pathIndex),
    files: tree.files,
    fileBytes: tree.fileBytes,
  }));
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    key: input.key,
    createdAt: new Date().toISOString(),
    codec: 'zstd',
    paths,
    inputs: input.inputs,
    client: { version: LARDER_VERSION, os: process.platform, arch: process.arch },
  };
  mark = performance.now();
  const published = await client.putEntry(manifest);
  phases.publish = secondsSince(mark);
  Object.assign(record, {
    outcome: published === 'created' ? 'saved' : 'exists',
    paths: present,
    files: trees.reduce((sum, t) => sum + t.files, 0),
    fileBytes: trees.reduce((sum, t) => sum + t.fileBytes, 0),
    parts: refs.length,
  });
  return done();
}
