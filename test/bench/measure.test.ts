import t from 'tap';
import { childrenCpuSeconds, cpuSeconds, inTurn, sh, timed } from '../../bench/measure.ts';

// CPU time is counted, not timed: these hold however loaded the machine is.

t.test("a step's CPU-seconds count every process of its pipeline", async (t) => {
  const busy = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';
  const one = await sh(busy, '/');
  const two = await sh(`(${busy}) & (${busy}); wait`, '/');
  t.ok(one.cpuSeconds > 0.05, `one busy shell: ${one.cpuSeconds} s`);
  t.ok(two.cpuSeconds > one.cpuSeconds * 1.4, `two busy shells count about twice: ${two.cpuSeconds} s against ${one.cpuSeconds} s`);
  const idle = await timed('sleep', ['0.3'], { cwd: '/' });
  t.ok(idle.cpuSeconds < 0.05, `waiting costs no CPU: ${idle.cpuSeconds} s`);
});

t.test('CPU-seconds of a process, and of none', async (t) => {
  t.ok(cpuSeconds(process.pid) > 0, 'this process has used some');
  t.ok(Number.isNaN(cpuSeconds(2 ** 22 + 1)), 'a process that is not there has no number');
  t.ok(childrenCpuSeconds() >= 0);
});

t.test('steps take turns going first, one after another', async (t) => {
  const order: string[] = [];
  const step = (name: string) => async () => {
    order.push(`${name}:start`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    order.push(`${name}:end`);
  };
  for (let round = 0; round < 3; round++) await inTurn(round, step('a'), step('b'), step('c'));
  const starts = order.filter((e) => e.endsWith(':start')).map((e) => e[0]);
  t.same(starts, ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b'], 'each round starts with the next step');
  t.ok(order.every((e, i) => i % 2 === 1 || order[i + 1] === `${e[0]}:end`), 'no step starts before the one before it ended');
  order.length = 0;
  for (let round = 0; round < 2; round++) await inTurn(round, step('a'), step('b'));
  t.same(order.filter((e) => e.endsWith(':start')).map((e) => e[0]), ['a', 'b', 'b', 'a'], 'two steps alternate');
});
