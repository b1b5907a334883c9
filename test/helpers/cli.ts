import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LARDER_BIN = fileURLToPath(new URL('../../bin/larder.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real larder command (asynchronously: the server under test may live in this
 * process), with the local part cache off unless a test turns it on: what a test
 * restores comes from the server it is testing.
 */
export function runLarder(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LARDER_BIN, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH, HOME: options.cwd, LARDER_LOCAL_CACHE: '0', ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs any command to its end (asynchronously), with stdout and stderr as one text, as a terminal shows them. */
export function runProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.once('close', (code) => resolve({ code, out }));
  });
}
