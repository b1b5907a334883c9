import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LARDER_BIN = fileURLToPath(new URL('../../bin/larder.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real larder command (asynchronously: the server under test may live in this process). */
export function runLarder(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LARDER_BIN, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH, HOME: options.cwd, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
