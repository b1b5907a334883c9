/**
 * Text that compresses ~2.6× with few long repeats: words of a 5,000-word vocabulary, the
 * common ones far more often, and numbers; the same for the same size and seed. (A row of
 * words repeated over and over compresses to the same bytes whichever way zstd is driven,
 * and tells nothing apart.)
 */
export function wordyText(size: number, seed = 7): Buffer {
  const random = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const letters = 'abcdefghijklmnopqrstuvwxyz_';
  const words = Array.from({ length: 5000 }, () => Array.from({ length: 2 + random(9) }, () => letters[random(letters.length)]).join(''));
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; ) {
    const word = words[Math.floor(words.length * (random(1 << 20) / (1 << 20)) ** 3)] as string;
    at += out.write(random(8) === 0 ? `${word}(${random(100_000)});\n` : `${word} `, at);
  }
  return out;
}
