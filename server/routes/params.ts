import type { FastifyRequest } from 'fastify';
import { checkDigest } from '../../shared/wire/digest.ts';
import { checkKey, checkNamespace } from '../../shared/wire/names.ts';

// Route parameters are checked against the closed alphabets before any store sees them.

type Params = Record<string, string | undefined>;

export function namespaceOf(request: FastifyRequest): string {
  return checkNamespace((request.params as Params).ns ?? '');
}

export function keyOf(request: FastifyRequest): string {
  return checkKey((request.params as Params).key ?? '');
}

export function digestOf(request: FastifyRequest): string {
  return checkDigest((request.params as Params).digest ?? '');
}
