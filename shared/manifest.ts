import { DIGEST_PATTERN } from './digest.ts';
import { LarderError } from './errors.ts';
import { KEY_PATTERN } from './names.ts';

// An entry's manifest: published last, under its key, and never changed afterwards.

export const MANIFEST_VERSION = 1;
export const CODECS = ['zstd'] as const;
export type Codec = (typeof CODECS)[number];

/** One standalone compressed tar of whole files from one path. */
export interface PartRef {
  digest: string;
  /** stored (compressed) bytes */
  size: number;
  /** tar bytes before compression */
  rawSize: number;
  /** tar members (files, folders, links) */
  entries: number;
}

export interface PathRecord {
  /** the path as the user gave it: `node_modules`, `~/.m2/repository` */
  path: string;
  parts: PartRef[];
  files: number;
  /** bytes of regular file content */
  fileBytes: number;
}

export interface Manifest {
  version: typeof MANIFEST_VERSION;
  key: string;
  createdAt: string;
  codec: Codec;
  paths: PathRecord[];
  /** what made the key: placeholder → value or hash, for `larder key --explain` style audits */
  inputs: Record<string, string>;
  /** buildSeconds: how long the command that built the paths took (larder run), for "time saved" */
  client: { version: string; os: string; arch: string; buildSeconds?: number };
}

export const MAX_PATHS = 64;
export const MAX_PARTS_PER_ENTRY = 100_000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const partRefSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['digest', 'size', 'rawSize', 'entries'],
  properties: {
    digest: { type: 'string', pattern: DIGEST_PATTERN.source },
    size: { type: 'integer', minimum: 0, maximum: MAX_SAFE },
    rawSize: { type: 'integer', minimum: 0, maximum: MAX_SAFE },
    entries: { type: 'integer', minimum: 0, maximum: MAX_SAFE },
  },
} as const;

export const manifestSchema = {
  $id: 'larder/manifest',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'key', 'createdAt', 'codec', 'paths', 'inputs', 'client'],
  properties: {
    version: { const: MANIFEST_VERSION },
    key: { type: 'string', pattern: KEY_PATTERN.source },
    createdAt: { type: 'string', format: 'date-time' },
    codec: { enum: [...CODECS] },
    paths: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_PATHS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'parts', 'files', 'fileBytes'],
        properties: {
          path: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[^\\u0000]+$' },
          parts: { type: 'array', maxItems: MAX_PARTS_PER_ENTRY, items: partRefSchema },
          files: { type: 'integer', minimum: 0, maximum: MAX_SAFE },
          fileBytes: { type: 'integer', minimum: 0, maximum: MAX_SAFE },
        },
      },
    },
    inputs: { type: 'object', maxProperties: 256, additionalProperties: { type: 'string', maxLength: 4096 } },
    client: {
      type: 'object',
      additionalProperties: false,
      required: ['version', 'os', 'arch'],
      properties: {
        version: { type: 'string', maxLength: 64 },
        os: { type: 'string', maxLength: 64 },
        arch: { type: 'string', maxLength: 64 },
        buildSeconds: { type: 'number', minimum: 0, maximum: 31_536_000 },
      },
    },
  },
} as const;

export function manifestDigests(manifest: Manifest): string[] {
  return [...new Set(manifest.paths.flatMap((p) => p.parts.map((part) => part.digest)))];
}

/** Checks what a schema validator cannot: the key inside matches the key published under. */
export function checkManifestKey(manifest: Manifest, key: string): void {
  if (manifest.key !== key) {
    throw new LarderError('LARDER_INVALID_MANIFEST', `manifest names key ${JSON.stringify(manifest.key)} but is published as ${JSON.stringify(key)}`);
  }
}
