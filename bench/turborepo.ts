import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { mapLimit } from '../shared/concurrency.ts';
import { log } from './larder.ts';
import { inTurn, median, type Row, watchRss } from './measure.ts';
import { startServer } from './server.ts';

// Turborepo's remote cache, larder against turborepo-remote-cache 2.12.0 (its own disk
// storage), on the same artifacts in the same run: 120 artifacts of 20 KB to 8 MB
// (~250 MB, incompressible, as turbo's zstd tarballs are), uploaded then downloaded 8 at a
// time as turbo does, each server fresh each round, the order alternating. Throughput is
// compared as seconds for the whole set; memory as each server's peak RSS over the round.

const TRC = fileURLToPath(new URL('../node_modules/.bin/turborepo-remote-cache', import.meta.url));
const TOKEN = 'bench-turbo-token';
const CONCURRENCY = 8;

interface Round {
  upload: number;
  download: number;
  peakRss: number;
}

function artifacts(): Array<{ hash: string; body: Buffer }> {
  const out: Array<{ hash: string; body: Buffer }> = [];
  for (let i = 0; i < 120; i++) {
    const size = Math.round(20_000 * Math.pow(400, i / 119)); // 20 KB … 8 MB, log-spread
    out.push({ hash: randomBytes(8).toString('hex'), body: randomBytes(size) });
  }
  return out;
}

async function round(url: string, child: ChildProcess, set: Array<{ hash: string; body: Buffer }>): Promise<Round> {
  const rss = watchRss(child);
  const headers = { authorization: `Bearer ${TOKEN}` };
  let mark = performance.now();
  await mapLimit(set, CONCURRENCY, async ({ hash, body }) => {
    const res = await request(`${url}/v8/artifacts/${hash}?slug=bench`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body });
    await res.body.dump();
    if (res.statusCode >= 300) throw new Error(`PUT ${hash}: ${res.statusCode}`);
  });
  const upload = (performance.now() - mark) / 1000;
  mark = performance.now();
  await mapLimit(set, CONCURRENCY, async ({ hash, body }) => {
    const res = await request(`${url}/v8/artifacts/${hash}?slug=bench`, { headers });
    let length = 0;
    for await (const chunk of res.body) length += (chunk as Buffer).length;
    if (res.statusCode !== 200 || length !== body.length) throw new Error(`GET ${hash}: ${res.statusCode}, ${length} of ${body.length} bytes`);
  });
  const download = (performance.now() - mark) / 1000;
  return { upload, download, peakRss: rss.stop() };
}

function startTurborepoRemoteCache(storage: string, port: number): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [TRC], { env: { ...process.env, STORAGE_PROVIDER: 'local', STORAGE_PATH: storage, TURBO_TOKEN: TOKEN, PORT: String(port), LOG_LEVEL: 'warn', BODY_LIMIT: String(64 * 1024 * 1024) }, stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = async (): Promise<void> => {
      try {
        const res = await request(`${url}/v8/artifacts/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
        await res.body.dump();
        resolve({ url, child, stop: () => new Promise<void>((done) => (child.kill('SIGTERM'), child.once('exit', () => done()))) });
      } catch {
        if (Date.now() - started > 20_000) reject(new Error('turborepo-remote-cache did not start'));
        else setTimeout(() => void poll(), 100);
      }
    };
    child.once('exit', (code) => reject(new Error(`turborepo-remote-cache exited with ${code}`)));
    void poll();
  });
}

export async function turborepoRows(work: string, runs: number): Promise<Row[]> {
  log('turborepo: larder against turborepo-remote-cache 2.12.0, 120 artifacts, ~250 MB');
  const set = artifacts();
  const megabytes = set.reduce((n, a) => n + a.body.length, 0) / 1e6;
  const larder: Round[] = [];
  const trc: Round[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = join(work, `turbo-${i}`);
    mkdirSync(dir, { recursive: true });
    await inTurn(
      i,
      async () => {
        const server = await startServer(join(dir, 'larder'));
        try {
          larder.push(await round(server.url, server.child, set));
        } finally {
          await server.stop();
        }
      },
      async () => {
        const server = await startTurborepoRemoteCache(join(dir, 'trc'), 19_000 + i);
        try {
          trc.push(await round(server.url, server.child, set));
        } finally {
          await server.stop();
        }
      },
    );
  }
  const corpus = `120 artifacts, ${megabytes.toFixed(0)} MB`;
  const baselineName = 'turborepo-remote-cache 2.12.0';
  return [
    { scenario: 'Turborepo: upload every artifact (8 at a time)', corpus, larder: larder.map((r) => r.upload), baselineName, baseline: trc.map((r) => r.upload), goal: { kind: 'larder/baseline ≤', value: 1 }, notes: `seconds; larder ${(megabytes / median(larder.map((r) => r.upload))).toFixed(0)} MB/s` },
    { scenario: 'Turborepo: download every artifact (8 at a time)', corpus, larder: larder.map((r) => r.download), baselineName, baseline: trc.map((r) => r.download), goal: { kind: 'larder/baseline ≤', value: 1 }, notes: `seconds; larder ${(megabytes / median(larder.map((r) => r.download))).toFixed(0)} MB/s` },
    { scenario: 'Turborepo: server peak RSS over a round', corpus, larder: larder.map((r) => r.peakRss / 1e6), baselineName, baseline: trc.map((r) => r.peakRss / 1e6), goal: { kind: 'larder/baseline ≤', value: 1 }, notes: 'MB' },
  ];
}
