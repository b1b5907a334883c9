import t from 'tap';
import { keptMemory, SpareMemory } from '../../client/spare-memory.ts';

// A restore's downloads and a save's frames land in memory given back, not fresh pages.

t.test('memory given back is taken again: the smallest spare that holds the part', async (t) => {
  const memory = new SpareMemory(8);
  const big = memory.take(5_000_000);
  const small = memory.take(1_500_000);
  t.equal(big.length, 5_000_000, 'a buffer of the size asked for');
  t.ok(big.buffer.byteLength >= 5_000_000 && big.buffer.byteLength % (1024 * 1024) === 0, 'over memory in whole MiB');
  memory.give(big.buffer as ArrayBuffer);
  memory.give(small.buffer as ArrayBuffer);
  const next = memory.take(1_000_000);
  t.equal(next.buffer, small.buffer, 'the small spare for a small part');
  t.equal(next.length, 1_000_000);
  t.equal(memory.take(4_000_000).buffer, big.buffer, 'the big one for a big part');
  t.not(memory.take(4_000_000).buffer, big.buffer, 'a spare is taken once');
});

t.test('a part bigger than every spare gets new memory; spares stay few', async (t) => {
  const memory = new SpareMemory(8);
  const given = Array.from({ length: 12 }, (_, i) => memory.take((i + 1) * 1024 * 1024).buffer as ArrayBuffer);
  for (const buffer of given) memory.give(buffer);
  t.notOk(given.includes(memory.take(13 * 1024 * 1024).buffer as ArrayBuffer), 'none is big enough');
  const kept = [];
  for (let i = 0; i < 12; i++) {
    const taken = memory.take(1).buffer as ArrayBuffer;
    if (given.includes(taken)) kept.push(taken.byteLength / (1024 * 1024));
  }
  t.same(kept.sort((a, b) => a - b), [5, 6, 7, 8, 9, 10, 11, 12], 'the eight biggest are kept');
});

t.test('kept memory is made once at its capacity, whatever order the parts come in', async (t) => {
  const MiB = 1024 * 1024;
  const memory = keptMemory(16 * MiB);
  const small = memory(2 * MiB);
  t.equal(small.length, 2 * MiB, 'a buffer of the size asked for');
  t.equal(small.buffer.byteLength, 16 * MiB, 'over memory made at the capacity');
  const bigger = memory(9 * MiB);
  t.equal(bigger.buffer, small.buffer, 'a bigger part below the capacity: the same memory, not a new one to fault in');
  t.equal(memory(1).buffer, small.buffer, 'and a smaller one');
  const past = memory(20 * MiB);
  t.not(past.buffer, small.buffer, 'a part past the capacity gets memory of its size');
  t.equal(past.buffer.byteLength, 20 * MiB);
  t.equal(memory(3 * MiB).buffer, past.buffer, 'which is kept from then on');
});

t.test('new memory may be made bigger than asked, room for later parts; a spare that holds the part comes first', async (t) => {
  const MiB = 1024 * 1024;
  const memory = new SpareMemory(2);
  const roomy = memory.take(3 * MiB, 17 * MiB);
  t.equal(roomy.length, 3 * MiB, 'a buffer of the size asked for');
  t.equal(roomy.buffer.byteLength, 17 * MiB, 'over memory made at the capacity');
  const spare = memory.take(2 * MiB);
  memory.give(spare.buffer as ArrayBuffer);
  t.equal(memory.take(2 * MiB, 17 * MiB).buffer, spare.buffer, 'a spare that holds it, whatever capacity new memory would have');
  t.equal(memory.take(1, 3 * MiB + 1).buffer.byteLength, 4 * MiB, 'in whole MiB');
});
