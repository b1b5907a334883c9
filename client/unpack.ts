import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress } from 'node:zlib';
import { VerifyingStream } from '../shared/digest.ts';
import type { PartRef } from '../shared/manifest.ts';
import { unsafe } from './safe-path.ts';
import { type ExtractResult, TarExtractor } from './tar-read.ts';

// One part, as it downloads: verify sha256 → unzstd → write files. The decompressed
// stream may not grow past the raw size the manifest declares (a bomb stops there). A
// digest mismatch is only known at the end, so the part's files land in the staging
// folder first; the caller discards that folder on any failure, and the target is
// never touched.

export async function extractPart(compressed: Readable, part: PartRef, root: string): Promise<ExtractResult> {
  const extractor = new TarExtractor(root);
  let rawBytes = 0;
  try {
    await pipeline(
      compressed,
      new VerifyingStream(part.digest, part.size, 'LARDER_INTEGRITY'),
      createZstdDecompress(),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          rawBytes += chunk.length;
          if (rawBytes > part.rawSize) return callback(unsafe(`part ${part.digest} expands past its declared ${part.rawSize} bytes`));
          try {
            extractor.write(chunk);
            callback();
          } catch (err) {
            callback(err as Error);
          }
        },
      }),
    );
    return extractor.end();
  } catch (err) {
    extractor.abort();
    throw err;
  }
}
