// Plain JavaScript, so it runs on any Node and can say clearly why larder cannot.
// larder needs Node >= 22.18: zstd in node:zlib, and TypeScript sources run as they are.
export function nodeIsRecentEnough() {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 18);
}

export const NODE_ADVICE = `needs Node >= 22.18 (this is ${process.version}); run it through npm scripts in the larder checkout (which pin Node 22), or put Node 22 on PATH`;
