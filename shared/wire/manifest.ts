import { DIGEST_PATTERN } from './digest.ts';
import { LarderError } from '../errors.ts';
import { KEY_PATTERN } from './names.ts';
import { TIMES_PATTERN } from './times.ts';

// An entry's manifest: published last, under its key, and never changed afterwards.
// Version 2 parts hold no times (their members carry mtime 0); each part's times travel
// beside it (shared/wire/times.ts), and its rawDigest lets a later save recognise a part it
// would build again without compressing it. Version 1 parts hold their times inside;
// servers keep serving both, and clients restore both.

export const MANIFEST_VERSION = 2;
export const READABLE_MANIFEST_VERSIONS = [1, 2] as const;
export const CODECS = ['zstd'] as const;
export type Codec = (typeof CODECS)[number];
/** The codec of entries other tools' caches publish through larder's protocol adapters. */
export const OPAQUE_CODEC = 'opaque';

/** One standalone compressed tar of whole files from one path. */
export interface PartRef {
  digest: string;
  /** stored (compressed) bytes */
  size: number;
  /** tar bytes before compression */
  rawSize: number;
  /** tar members (files, folders, links) */
  entries: number;
  /** version 2: the members' mtimes, encoded by shared/wire/times.ts */
  times?: string;
  /** version 2: sha256 of the tar bytes before compression */
  rawDigest?: string;
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
  version: (typeof READABLE_MANIFEST_VERSIONS)[number];
  key: string;
  createdAt: string;
  /** opaque: the one part is another tool's own archive, stored by a protocol adapter (server/protocols/), never unpacked by larder */
  codec: Codec | typeof OPAQUE_CODEC;
  paths: PathRecord[];
  /** what made the key: placeholder → value or hash, for `larder key --explain` style audits */
  inputs: Record<string, string>;
  /** buildSeconds: how long the command that built the paths took (larder run), for "time saved" */
  client: { version: string; os: string; arch: string; buildSeconds?: number };
  /** who published it: set by the server from the token, whatever a client sends */
  publisher?: Publisher;
}

export interface Publisher {
  /** the token's name, or the OIDC rule's with the pull request number */
  name: string;
  /** published with a token that jobs which do not trust each other share: lookups pass it over unless asked */
  untrusted?: boolean;
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
    times: { type: 'string', maxLength: 4 * 1024 * 1024, pattern: TIMES_PATTERN.source },
    rawDigest: { type: 'string', pattern: DIGEST_PATTERN.source },
  },
} as const;

export const manifestSchema = {
  $id: 'larder/manifest',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'key', 'createdAt', 'codec', 'paths', 'inputs', 'client'],
  properties: {
    version: { enum: [...READABLE_MANIFEST_VERSIONS] },
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
    publisher: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: { type: 'string', maxLength: 256 }, untrusted: { type: 'boolean' } },
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
