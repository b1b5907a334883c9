import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Timing helpers: wall-clock seconds of real commands, medians, and a process's peak RSS.

/** One line of the results table: larder against its baseline, measured in the same run. */
export interface Row {
  scenario: string;
  corpus: string;
  larder: number[];
  baselineName: string;
  baseline: number[];
  /** how the goal reads the two medians */
  goal?: { kind: 'larder/baseline ≤' | 'baseline/larder ≥'; value: number };
  notes?: string;
}

export interface Timed {
  seconds: number;
  stdout: string;
  /** the command's peak resident set (its worker threads included), when asked for */
  peakRss?: number;
  /** CPU-seconds of the command and every process it waited for (all their threads) */
  cpuSeconds: number;
}

/** Runs a command to completion and returns its wall time; a failure is an error. */
export function timed(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; watchRss?: boolean }): Promise<Timed> {
  const started = performance.now();
  const cpuBefore = childrenCpuSeconds();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const rss = options.watchRss ? watchRss(child) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('exit', () => rss?.stop()); // the last sample while /proc still has it
    child.once('close', (code) => {
      if (code === 0) resolve({ seconds: (performance.now() - started) / 1000, stdout, cpuSeconds: childrenCpuSeconds() - cpuBefore, ...(rss ? { peakRss: rss.stop() } : {}) });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

export const sh = (script: string, cwd: string): Promise<Timed> => timed('sh', ['-c', script], { cwd });

/** `npm ci` of a project's lockfile into an empty folder, from npm's warm cache: the baseline a restore of node_modules replaces. */
export function npmCi(project: string, dir: string): Promise<Timed> {
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(project, file), join(dir, file));
  return quiet(() => sh('npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error', dir));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Samples a process's resident set every 25 ms; returns the peak in bytes (the kernel's high-water mark when it is readable). */
export function watchRss(child: ChildProcess): { stop: () => number } {
  let peak = 0;
  const sample = (): void => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      peak = Math.max(peak, hwm, rss);
    } catch {
      // the process is gone
    }
  };
  const timer = setInterval(sample, 25);
  return {
    stop: () => {
      sample();
      clearInterval(timer);
      return peak;
    },
  };
}

/** CPU seconds a process has used so far, its threads included (Linux: /proc/<pid>/stat, at 100 ticks a second). */
export function cpuSeconds(pid: number | undefined): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, fields 14 and 15
}

/**
 * CPU seconds of this process's children that have ended and been waited for, and of
 * theirs (cutime and cstime, fields 16 and 17): a command's own threads and every process
 * of its pipeline, counted once it exits. Steps run one at a time, so the difference
 * across one is that step's.
 */
export function childrenCpuSeconds(): number {
  const fields = statFields('/proc/self/stat');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The fields after a /proc stat line's command name (which may hold spaces); none if the process is gone. */
function statFields(path: string): string[] {
  try {
    const line = readFileSync(path, 'utf8');
    return line.slice(line.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return [];
  }
}

/**
 * Flushes earlier writes first, so one step's writeback does not land on the next, and
 * reads the step's input once untimed: this machine reclaims idle page cache (DAMON), and
 * whichever step ran first after that would otherwise pay the disk reads.
 */
export async function quiet<T>(step: () => Promise<T>, warm: string[] = []): Promise<T> {
  await sh('sync', '/');
  for (const path of warm) await sh(`tar -cf - "${path}" | cat > /dev/null`, '/');
  return step();
}

/** Rotates which step goes first (of two, they alternate), so slow drift hits each alike. */
export async function inTurn(round: number, ...steps: Array<() => Promise<unknown>>): Promise<void> {
  for (let i = 0; i < steps.length; i++) await (steps[(round + i) % steps.length] as () => Promise<unknown>)();
}
