import { Header, type HeaderData } from 'tar/header';
import { zstdCompressSync } from 'node:zlib';
import { storedFrame } from '../../client/archive/stored.ts';
import { sha256Digest } from '../../shared/wire/digest.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';

// Builds tar archives member by member, including ones no honest packer would write,
// for the extraction tests.

export interface Member {
  path: string;
  type?: HeaderData['type'];
  content?: string | Buffer;
  linkpath?: string;
  mode?: number;
  /** declared size, when it should differ from the content's */
  size?: number;
}

const META_TYPES = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath']);

/** Members a tar holds (pax and GNU long-name records are not members), up to its end or its last whole header. */
export function memberCount(tar: Buffer): number {
  let count = 0;
  for (let off = 0; off + 512 <= tar.length; ) {
    const block = tar.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    const header = new Header(block);
    if (!META_TYPES.has(header.type)) count++;
    off += 512 + Math.ceil((header.size ?? 0) / 512) * 512;
  }
  return count;
}

export function tarOf(members: Member[], { end = true } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const m of members) {
    const content = typeof m.content === 'string' ? Buffer.from(m.content) : (m.content ?? Buffer.alloc(0));
    const block = Buffer.alloc(512);
    new Header({ path: m.path, type: m.type ?? 'File', size: m.size ?? content.length, mode: m.mode ?? 0o644, mtime: new Date('2024-01-01T00:00:00Z'), linkpath: m.linkpath, uid: 0, gid: 0 }).encode(block, 0);
    blocks.push(block, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  if (end) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * A tar as a part in the store: zstd-compressed, or in a stored frame of raw blocks as jars
 * are, with the reference a manifest would hold (its real member count unless told).
 */
export function asPart(tar: Buffer, rawSize = tar.length, entries = memberCount(tar), stored = false): { bytes: Buffer; ref: PartRef } {
  const bytes = stored ? storedFrame(tar) : zstdCompressSync(tar);
  return { bytes, ref: { digest: sha256Digest(bytes), size: bytes.length, rawSize, entries } };
}
