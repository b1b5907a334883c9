import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { chromiumSkip, renderedDom, screenshot } from '../helpers/external/chromium.ts';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree } from '../helpers/trees.ts';

// The acceptance check: after a scripted sequence of saves and restores, the
// client's JSON reports, /v1/stats, /metrics and the dashboard (rendered in a real
// headless Chromium) all show the same hit and miss counts.

const text = (dom: string, id: string): string => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(dom)?.[1] ?? '';

t.test('reports, /v1/stats, /metrics and the dashboard agree', { skip: chromiumSkip }, async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'acme-web' };
  const key = ['--key', 'deps-{os}-{hash:deps.lock}', '--restore-key', 'deps-{os}-', '--path', 'deps'];
  const folder = (lock: string): string => {
    const dir = tempDir(t, 'dash');
    writeFileSync(join(dir, 'deps.lock'), lock);
    return dir;
  };
  const reports: Array<{ command: string; outcome: string; match?: string }> = [];
  const larder = async (args: string[], cwd: string): Promise<void> => {
    const result = await runLarder([...args, '--json'], { cwd, env });
    reports.push(JSON.parse(result.stdout));
  };
  const first = folder('v1');
  await larder(['restore', ...key], first); // miss
  buildSampleTree(join(first, 'deps'));
  await larder(['save', ...key], first);
  await larder(['restore', ...key], folder('v1')); // exact
  await larder(['restore', ...key], folder('v1')); // exact
  await larder(['restore', ...key], folder('v2')); // prefix
  await larder(['restore', '--key', 'other-{os}', '--path', 'deps'], folder('v1')); // miss

  const restores = reports.filter((r) => r.command === 'restore');
  const counts = {
    exact: restores.filter((r) => r.match === 'exact').length,
    prefix: restores.filter((r) => r.match === 'prefix').length,
    miss: restores.filter((r) => r.outcome === 'miss').length,
  };
  t.same(counts, { exact: 2, prefix: 1, miss: 2 }, 'the client reports');

  const stats = ((await (await request(`${url}/v1/stats`)).body.json()) as { namespaces: Record<string, Record<string, number>> }).namespaces['acme-web'];
  t.match(stats, { lookups: 5, exact: counts.exact, prefix: counts.prefix, miss: counts.miss, clientRestores: 5, clientSaves: 1 }, '/v1/stats');

  const metrics = await (await request(`${url}/metrics`)).body.text();
  for (const [result, n] of [['exact', counts.exact], ['prefix', counts.prefix], ['miss', counts.miss]] as const) {
    t.match(metrics, new RegExp(`larder_lookups_total\\{namespace="acme-web",result="${result}"\\} ${n}\\n`), `/metrics ${result}`);
  }

  const dom = await renderedDom(t, url);
  t.match(dom, /data-loaded="true"/, 'the page loaded its data');
  t.equal(text(dom, 'lookups'), '5');
  t.equal(text(dom, 'exact'), String(counts.exact));
  t.equal(text(dom, 'prefix'), String(counts.prefix));
  t.equal(text(dom, 'miss'), String(counts.miss));
  t.equal(text(dom, 'hit-rate'), '60.0 %');
  t.match(dom, /<td>acme-web<\/td><td class="n">5<\/td><td class="n">2<\/td><td class="n">1<\/td><td class="n">2<\/td>/, 'the namespace row');
  t.match(dom, /<td>other-linux<\/td><td class="n">1<\/td>/, 'top keys by misses');
  t.match(dom, /<td>deps-linux-[0-9a-f]{16}<\/td>/, 'recent entries');
  t.match(dom, /<polyline/, 'the hit-rate chart');

  const dir = process.env.LARDER_SCREENSHOT_DIR ?? tempDir(t, 'screenshot');
  const png = await screenshot(t, url, dir);
  t.ok(existsSync(png) && statSync(png).size > 10_000, `screenshot written: ${png}`);
});

t.test('with tokens, the page asks for an admin token instead of showing data', { skip: chromiumSkip }, async (t) => {
  const { TokenTable } = await import('../../server/auth/access.ts');
  const { url } = await startServer(t, { tokens: new TokenTable({ tokens: [{ name: 'admin', sha256: TokenTable.hash('a'), admin: true }] }) });
  const page = await request(`${url}/`);
  t.equal(page.statusCode, 200, 'the page itself is open');
  await page.body.dump();
  const dom = await renderedDom(t, url);
  t.match(dom, /id="login" style="display: block;"/);
  t.match(text(dom, 'error'), /admin token/);
  t.notMatch(dom, /data-loaded="true"/);
});
