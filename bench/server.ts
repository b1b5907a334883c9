import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER_BIN = fileURLToPath(new URL('../bin/larder-server.js', import.meta.url));

export interface BenchServer {
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** A real larder-server process on a free port with its own store (a folder, or s3:// with the flags it needs). */
export function startServer(store: string, flags: string[] = []): Promise<BenchServer> {
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0', '--store', store, '--log-level', 'warn', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
      const url = /listening on (https?:\/\/\S+)/.exec(stderr)?.[1];
      if (url) resolve({ url, child, stop: () => new Promise<void>((done) => (child.kill('SIGTERM'), child.once('exit', () => done()))) });
    });
    child.once('exit', (code) => reject(new Error(`larder-server exited with ${code}: ${stderr}`)));
  });
}
