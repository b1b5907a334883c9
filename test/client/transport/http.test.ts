import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startServer } from '../../helpers/server.ts';

// node:https is loaded only for an https server: loading it makes Node parse the CA
// certificates on a thread of its own (~50 ms of CPU with NODE_EXTRA_CA_CERTS set), which
// every save and restore to an http server paid for nothing.

const transfer = fileURLToPath(new URL('../../../client/transport/transfer.ts', import.meta.url));

t.test('a client of an http server never loads node:https; of an https one it does', async (t) => {
  const { url } = await startServer(t);
  // Not execFileSync: the server runs in this process and must answer meanwhile.
  const loads = async (server: string): Promise<boolean> => {
    const script = `const { CacheClient } = await import(${JSON.stringify(transfer)});
      const client = new CacheClient({ server: ${JSON.stringify(server)}, namespace: 'team', backoffMs: 1 });
      console.log(JSON.stringify(await client.lookup('k', []).catch((err) => err.code)));
      await client.close();
      console.log(process.moduleLoadList.some((m) => m === 'NativeModule https'));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const [answer, loaded] = stdout.trim().split('\n');
    t.equal(answer, server === url ? '{"match":"none"}' : '"LARDER_UNREACHABLE"', `${server}: the lookup went as it should`);
    return loaded === 'true';
  };
  t.equal(await loads(url), false, 'http: not loaded');
  t.equal(await loads('https://127.0.0.1:9'), true, 'https: loaded when asked for');
});
