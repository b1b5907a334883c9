import { Header, type HeaderData } from 'tar/header';
import { zstdCompressSync } from 'node:zlib';
import { sha256Digest } from '../../shared/digest.ts';
import type { PartRef } from '../../shared/manifest.ts';

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

/** A tar as a stored part: zstd-compressed, with the reference a manifest would hold. */
export function asPart(tar: Buffer, rawSize = tar.length, entries = 1000): { bytes: Buffer; ref: PartRef } {
  const bytes = zstdCompressSync(tar);
  return { bytes, ref: { digest: sha256Digest(bytes), size: bytes.length, rawSize, entries } };
}
