import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SERVER_BIN = fileURLToPath(new URL('../../bin/larder-server.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts the real larder-server on port 0 and waits for its "listening on" line. */
export function spawnServer(t: { teardown: (fn: () => void) => void }, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0', '--log-level', 'warn', ...args], { env: { ...process.env, ...env } });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`larder-server did not start:\n${stderr}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
      const url = /listening on (https?:\/\/\S+)/.exec(stderr)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url, stderr: () => stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`larder-server exited with ${code}:\n${stderr}`));
    });
  });
}
