import t from 'tap';
import { BiggestFirst } from '../../client/biggest-first.ts';

interface Task {
  name: string;
  bytes: number;
}

/** A task runner whose tasks end only when the test says so. */
function controlled() {
  const started: string[] = [];
  const gates = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  let running = 0;
  let peak = 0;
  const run = (task: Task) =>
    new Promise<void>((resolve, reject) => {
      started.push(task.name);
      peak = Math.max(peak, ++running);
      gates.set(task.name, {
        resolve: () => (running--, resolve()),
        reject: (err) => (running--, reject(err)),
      });
    });
  const end = async (name: string, err?: Error) => {
    const gate = gates.get(name);
    if (!gate) throw new Error(`${name} has not started`);
    if (err) gate.reject(err);
    else gate.resolve();
    await new Promise((r) => setImmediate(r));
  };
  return { run, started, end, peak: () => peak };
}

t.test('the biggest waiting task starts first, and never more than the limit run', async (t) => {
  const c = controlled();
  const queue = new BiggestFirst<Task>(2, c.run);
  queue.add({ name: 'first', bytes: 1 });
  queue.add({ name: 'second', bytes: 1 });
  for (const [name, bytes] of [['small', 5], ['huge', 500], ['medium', 50]] as const) queue.add({ name, bytes });
  t.same(c.started, ['first', 'second'], 'two slots, filled in arrival order while nothing waits');
  await c.end('first');
  t.same(c.started, ['first', 'second', 'huge'], 'a slot frees: the biggest waiting one');
  await c.end('second');
  await c.end('huge');
  t.same(c.started, ['first', 'second', 'huge', 'medium', 'small']);
  const finished = queue.finish();
  await c.end('medium');
  await c.end('small');
  await finished;
  t.equal(c.peak(), 2, 'at most two at once');
});

t.test('the first failure stops new tasks, and finish reports it once the running ones end', async (t) => {
  const c = controlled();
  const queue = new BiggestFirst<Task>(2, c.run);
  queue.add({ name: 'a', bytes: 1 });
  queue.add({ name: 'b', bytes: 1 });
  queue.add({ name: 'waiting', bytes: 1 });
  const finished = queue.finish();
  let settled = false;
  finished.then(
    () => (settled = true),
    () => (settled = true),
  );
  await c.end('a', new Error('part a failed'));
  t.notOk(settled, 'b is still running: finish waits for it');
  t.throws(() => queue.add({ name: 'late', bytes: 9 }), /part a failed/, 'adding after a failure throws it');
  await c.end('b');
  await t.rejects(finished, /part a failed/);
  t.same(c.started, ['a', 'b'], 'the waiting task never started');
});

t.test('finish with nothing queued resolves at once', async (t) => {
  const queue = new BiggestFirst<Task>(3, async () => {});
  await t.resolves(queue.finish());
});

t.test('with a budget, the tasks running hold at most its bytes, the biggest still first; one too big runs alone', async (t) => {
  const c = controlled();
  const weigh = (task: Task) => (task.name === 'streamed' ? 0 : task.bytes);
  const queue = new BiggestFirst<Task>(8, c.run, { bytes: 24, weigh });
  for (const [name, bytes] of [['a', 16], ['b', 12], ['c', 8], ['d', 6], ['e', 4]] as const) queue.add({ name, bytes });
  t.same(c.started, ['a'], 'a (16) runs; b (12) would pass 24 bytes, and nothing smaller passes it');
  await c.end('a');
  t.same(c.started, ['a', 'b', 'c'], 'room for b and c (20)');
  queue.add({ name: 'streamed', bytes: 100 }); // holds no memory (a part streamed to a file)
  t.same(c.started, ['a', 'b', 'c', 'streamed'], 'a task of no weight starts whatever is held');
  queue.add({ name: 'huge', bytes: 40 });
  await c.end('b');
  await c.end('c');
  t.same(c.started, ['a', 'b', 'c', 'streamed'], 'huge (40) waits while anything of weight runs: streamed holds none, but runs');
  await c.end('streamed');
  t.same(c.started, ['a', 'b', 'c', 'streamed', 'huge'], 'alone, a task over the budget runs');
  const finished = queue.finish();
  await c.end('huge');
  await c.end('d');
  await c.end('e');
  await finished;
  t.same(c.started, ['a', 'b', 'c', 'streamed', 'huge', 'd', 'e']);
});
