import { createHash } from 'node:crypto';
import { LarderError } from '../../shared/errors.ts';
import type { Publisher } from '../../shared/wire/manifest.ts';
import { KEY_PREFIX_PATTERN, NAMESPACE_PATTERN } from '../../shared/wire/names.ts';
import { byteSize } from '../../shared/args.ts';
import { checkOidcRules, type OidcRule } from './oidc-rules.ts';

// Who may do what. A tokens file stores only SHA-256 hashes of tokens; each token has
// grants per namespace pattern, read or read-write, optionally limited to key
// prefixes (trust tiers: a pull-request token reads `main-` and writes only `pr-`).
// A token many mutually untrusting jobs share is marked untrusted: what it publishes
// is passed over by lookups unless a job asks for it (see lookup.ts).
// Callers validate namespaces and keys first, then ask an Access.

export interface Grant {
  /** a namespace, or a pattern with * wildcards: `acme-*` */
  namespaces: string;
  access: 'read' | 'read-write';
  /** the keys this grant covers; all keys when absent */
  keyPrefixes?: string[];
}

export interface TokenRecord {
  name: string;
  /** hex SHA-256 of the token */
  sha256: string;
  admin?: boolean;
  /** held by jobs that do not trust each other (every pull request): its entries are passed over unless asked for */
  untrusted?: boolean;
  grants?: Grant[];
}

export interface TokensFile {
  tokens: TokenRecord[];
  /** identities proven by an OIDC issuer's signed token (GitHub Actions), see oidc.ts */
  oidc?: OidcRule[];
  /** namespace → the most its live entries may hold ("50G"); see server/retention */
  quotas?: Record<string, string>;
}

export interface CompiledGrant {
  /** the namespace or pattern as written */
  pattern: string;
  namespace: RegExp;
  write: boolean;
  keyPrefixes: string[] | undefined;
}

export class Access {
  readonly name: string;
  readonly admin: boolean;
  readonly untrusted: boolean;
  readonly #grants: CompiledGrant[];

  constructor(name: string, admin: boolean, grants: CompiledGrant[], untrusted = false) {
    this.name = name;
    this.admin = admin;
    this.#grants = grants;
    this.untrusted = untrusted;
  }

  /** Everything allowed: a server without tokens (loopback only) or an admin token. */
  /** Who published what this token writes: the server's to say, never the client's; marked when the token is untrusted. */
  publisher(): Publisher {
    return this.untrusted ? { name: this.name, untrusted: true } : { name: this.name };
  }

  static all(name: string): Access {
    return new Access(name, true, []);
  }

  /** May this token read the entry (or, with no key, anything) in ns? */
  canRead(ns: string, key?: string): boolean {
    return this.admin || this.#grants.some((g) => g.namespace.test(ns) && covers(g, key));
  }

  /** May this token publish or delete the entry (or, with no key, upload blobs) in ns? */
  canWrite(ns: string, key?: string): boolean {
    return this.admin || this.#grants.some((g) => g.write && g.namespace.test(ns) && covers(g, key));
  }

  requireRead(ns: string, key?: string): void {
    if (!this.canRead(ns, key)) throw forbidden(this.name, 'read', ns, key);
  }

  requireWrite(ns: string, key?: string): void {
    if (!this.canWrite(ns, key)) throw forbidden(this.name, 'write', ns, key);
  }

  /** the namespaces (or patterns) the grants name, each once */
  namespaces(): string[] {
    return [...new Set(this.#grants.map((g) => g.pattern))];
  }

  requireAdmin(): void {
    if (!this.admin) throw new LarderError('LARDER_FORBIDDEN', `token ${this.name} is not an admin token`);
  }
}

function covers(grant: CompiledGrant, key: string | undefined): boolean {
  return key === undefined || grant.keyPrefixes === undefined || grant.keyPrefixes.some((p) => key.startsWith(p));
}

function forbidden(name: string, what: string, ns: string, key: string | undefined): LarderError {
  return new LarderError('LARDER_FORBIDDEN', `token ${name} may not ${what} ${key === undefined ? `in namespace ${ns}` : `key ${key} in namespace ${ns}`}`);
}

/** Tokens by the hash of their value. */
export class TokenTable {
  readonly #byHash = new Map<string, Access>();
  readonly oidcRules: OidcRule[];

  constructor(file: TokensFile) {
    this.oidcRules = file.oidc ?? [];
    for (const token of file.tokens) {
      this.#byHash.set(token.sha256, new Access(token.name, token.admin === true, (token.grants ?? []).map((g) => compileGrant(g)), token.untrusted === true));
    }
  }

  static hash(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  /** The token's access, or undefined for a token that is not in the table. */
  find(token: string): Access | undefined {
    return this.#byHash.get(TokenTable.hash(token));
  }
}

/** Checks a parsed tokens file; every problem is a usage error naming the token. */
export function checkTokensFile(value: unknown): TokensFile {
  const fail = (message: string): never => {
    throw new LarderError('LARDER_USAGE', `tokens file: ${message}`);
  };
  const tokens = (value as TokensFile | undefined)?.tokens;
  if (!Array.isArray(tokens)) return fail('expected { "tokens": [ … ] }');
  const seen = new Set<string>();
  for (const [i, token] of tokens.entries()) {
    const where = `token ${i} (${String((token as TokenRecord)?.name)})`;
    if (typeof token?.name !== 'string' || token.name === '') fail(`${where}: needs a name`);
    if (typeof token.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(token.sha256)) fail(`${where}: sha256 must be the 64 hex digits of SHA-256(token), never the token itself`);
    if (seen.has(token.sha256)) fail(`${where}: the same token appears twice`);
    seen.add(token.sha256);
    if (token.admin !== undefined && typeof token.admin !== 'boolean') fail(`${where}: admin must be true or false`);
    if (token.untrusted !== undefined && typeof token.untrusted !== 'boolean') fail(`${where}: untrusted must be true or false`);
    const problem = grantProblem(token.grants ?? [], false);
    if (problem) fail(`${where}: ${problem}`);
    if (!token.admin && (token.grants ?? []).length === 0) fail(`${where}: grants nothing`);
  }
  const { oidc, quotas } = value as TokensFile;
  if (quotas !== undefined) quotaBytes(quotas, fail);
  return { tokens, ...(oidc === undefined ? {} : { oidc: checkOidcRules(oidc, fail) }), ...(quotas === undefined ? {} : { quotas }) };
}

/** The quotas of a tokens file in bytes; each namespace a name, each quota a size. */
export function quotaBytes(quotas: unknown, fail: (message: string) => never): Record<string, number> {
  if (typeof quotas !== 'object' || quotas === null || Array.isArray(quotas)) return fail('quotas must be { "namespace": "50G", … }');
  const bytes: Record<string, number> = {};
  for (const [ns, size] of Object.entries(quotas)) {
    if (!NAMESPACE_PATTERN.test(ns)) fail(`quotas: ${JSON.stringify(ns)} is not a namespace name`);
    try {
      bytes[ns] = byteSize(`quotas.${ns}`, String(size));
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return bytes;
}

/** A grant ready to check; `{pr}` in its key prefixes becomes the pull request's number. */
export function compileGrant(grant: Grant, pr?: string): CompiledGrant {
  return {
    pattern: grant.namespaces,
    namespace: globRegExp(grant.namespaces, '[a-z0-9._-]*'),
    write: grant.access === 'read-write',
    keyPrefixes: grant.keyPrefixes?.map((p) => p.replaceAll('{pr}', pr ?? '{pr}')),
  };
}

/** Problems with a list of grants, for the tokens file's checks; `{pr}` allowed where templates are. */
export function grantProblem(grants: unknown, templates: boolean): string | undefined {
  if (!Array.isArray(grants)) return 'grants must be a list';
  for (const grant of grants as Grant[]) {
    if (typeof grant?.namespaces !== 'string' || !/^[a-z0-9._*-]{1,64}$/.test(grant.namespaces)) return 'namespaces must be a namespace or a pattern with *';
    if (grant.access !== 'read' && grant.access !== 'read-write') return 'access must be "read" or "read-write"';
    const prefixes = grant.keyPrefixes;
    if (prefixes === undefined) continue;
    const valid = (p: unknown) => typeof p === 'string' && KEY_PREFIX_PATTERN.test(templates ? p.replaceAll('{pr}', '1') : p);
    if (!Array.isArray(prefixes) || !prefixes.every(valid)) return templates ? 'keyPrefixes must be key prefixes (with {pr} for the pull request number)' : 'keyPrefixes must be key prefixes';
  }
  return undefined;
}

/** A whole-string match of a pattern whose `*` stands for `any` (a regular expression), every other character literal. */
export function globRegExp(pattern: string, any: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(any)}$`, 's');
}
