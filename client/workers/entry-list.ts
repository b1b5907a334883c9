import type { TreeEntry } from '../archive/tree.ts';

// A part's entries as they wait for a worker: one buffer of JSON, not hundreds of objects.
// A save's walk runs ahead of the packing, so most of a tree's entries sit in its queue for
// a while; as objects they outlived young collections and grew the main thread's young
// generation to its cap (32 MB of a npm-large save's peak, 16 MB with its parts held as
// buffers, which live outside the heap). A worker reads them back as they were: JSON keeps
// every string (lone surrogates escaped) and every double exactly.

export type EntryList = Uint8Array;

export function listEntries(entries: readonly TreeEntry[]): EntryList {
  return Buffer.from(JSON.stringify(entries));
}

export function entriesOf(list: EntryList): TreeEntry[] {
  return JSON.parse(Buffer.from(list.buffer, list.byteOffset, list.byteLength).toString('utf8')) as TreeEntry[];
}
