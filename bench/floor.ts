import { type Timed, timed } from './measure.ts';

// A save's and a restore's work as standard tools do it, on one stream: the work a
// verified remote cache cannot skip. A save compresses the tree, hashes what it sends,
// and sends it over HTTP to a receiver that hashes it again and writes it (the bare
// receiver, bench/server.ts); a restore downloads, hashes, decompresses and writes the
// tree. Beside `tar | zstd` to a file and `zstd -dc | tar -x` from one, it says what
// that work costs on this machine before any cache's design adds to it. A reference,
// not a lower bound: one stream, copies through pipes, a receiver in Node.

/** What the save's floor runs, in bash (`>(…)` hashes beside the upload; then `wait` for it: the status is the pipeline’s). */
export function floorSaveScript(path: string, url: string): string {
  return `set -o pipefail; tar -cf - ${path} | zstd -T0 -3 -q | tee >(sha256sum > /dev/null) | curl -sS --fail -o /dev/null -T - -X PUT ${url} && wait $!`;
}

/** What the restore's floor runs, in bash, in the folder the tree lands in. */
export function floorRestoreScript(url: string): string {
  return `set -o pipefail; curl -sS --fail ${url} | tee >(sha256sum > /dev/null) | zstd -dc | tar -xf - && wait $!`;
}

/**
 * Uploads `path` of `project` to the bare receiver at `receiver` under `digest`, which
 * must be the digest of the archive `tar | zstd -T0 -3` makes of it (the same bytes:
 * the receiver refuses any others, so the floor is known to have sent the whole tree).
 */
export function floorSave(project: string, path: string, receiver: string, digest: string): Promise<Timed> {
  return timed('bash', ['-c', floorSaveScript(path, `${receiver}/blobs/${digest}`)], { cwd: project });
}

/** Restores into `dir` the archive named `name` that the bare receiver at `receiver` sends. */
export function floorRestore(dir: string, receiver: string, name: string): Promise<Timed> {
  return timed('bash', ['-c', floorRestoreScript(`${receiver}/files/${encodeURIComponent(name)}`)], { cwd: dir });
}
