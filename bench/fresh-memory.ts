import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './larder.ts';
import { median, type Row } from './measure.ts';

// What memory not used before costs on this machine, against memory used before, the way
// the client uses memory: a download or a file read into it by a system call and then
// hashed (a restore's part, a save's tar), and bytes built by code and then written out by
// one (a save's frame sent, a restore's files written). The client's memory design leans
// on the difference (client/spare-memory.ts, the save's in-flight budget): on this guest a
// page costs once for the side that touches it first and again, unseen by `perf` as a
// page fault, for the other side (SHA-256 over a download ran at a quarter of its speed).

const BYTES = 64 * 1024 * 1024;
const CALL_BYTES = 1024 * 1024;
const PAGE = 4096;

/** Reads the file into `buffer` ('r'), or writes `buffer` over the file's own pages ('r+': never truncated, so both arms pay the same for the page cache), a MiB a call. */
function transfer(file: string, buffer: Buffer, flags: 'r' | 'r+'): void {
  const fd = openSync(file, flags);
  try {
    for (let at = 0; at < buffer.length; ) {
      const length = Math.min(CALL_BYTES, buffer.length - at);
      at += flags === 'r' ? readSync(fd, buffer, at, length, at) : writeSync(fd, buffer, at, length, at);
    }
  } finally {
    closeSync(fd);
  }
}

function seconds(work: () => void): number {
  const started = performance.now();
  work();
  return (performance.now() - started) / 1000;
}

function hash(buffer: Buffer): void {
  createHash('sha256').update(buffer).digest();
}

/** Rows for 64 MiB each way, fresh memory against memory used before, alternating. */
export function freshMemoryRows(work: string, runs: number): Row[] {
  log('memory: 64 MiB into memory not used before, against memory used before');
  const source = join(work, 'fresh-memory-in.bin');
  const sink = join(work, 'fresh-memory-out.bin');
  writeFileSync(source, randomBytes(BYTES));
  writeFileSync(sink, Buffer.alloc(BYTES));
  const used = Buffer.allocUnsafeSlow(BYTES);
  transfer(source, used, 'r');
  hash(used);
  transfer(sink, used, 'r+');
  const times = { readFresh: [] as number[], readUsed: [] as number[], writeFresh: [] as number[], writeUsed: [] as number[] };
  for (let run = 0; run < runs; run++) {
    // Above glibc's mmap threshold: each is new pages from the kernel, unmapped once collected.
    const fresh = Buffer.allocUnsafeSlow(BYTES);
    const built = Buffer.allocUnsafeSlow(BYTES);
    const arms = [
      () => times.readFresh.push(seconds(() => (transfer(source, fresh, 'r'), hash(fresh)))),
      () => times.readUsed.push(seconds(() => (transfer(source, used, 'r'), hash(used)))),
      () => times.writeFresh.push(seconds(() => (built.fill(run), transfer(sink, built, 'r+')))),
      () => times.writeUsed.push(seconds(() => (used.fill(run), transfer(sink, used, 'r+')))),
    ];
    for (const arm of run % 2 === 0 ? arms : [arms[1], arms[0], arms[3], arms[2]]) arm?.();
  }
  const pages = BYTES / PAGE;
  const perPage = (a: number[], b: number[]) => `${(((median(a) - median(b)) * 1e6) / pages).toFixed(1)} µs more per 4 KiB page`;
  return [
    { scenario: 'a file read into memory, then hashed', corpus: '64 MiB', larder: times.readFresh, baselineName: 'into memory used before', baseline: times.readUsed, notes: `memory not used before: ${perPage(times.readFresh, times.readUsed)}` },
    { scenario: 'memory filled, then written to a file', corpus: '64 MiB', larder: times.writeFresh, baselineName: 'from memory used before', baseline: times.writeUsed, notes: `memory not used before: ${perPage(times.writeFresh, times.writeUsed)}` },
  ];
}
