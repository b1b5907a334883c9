import { LarderError } from '../../shared/errors.ts';

/**
 * An archive member's name as a clean relative POSIX path, or an unsafe-archive error:
 * no absolute names, no `..`, no NUL. `.` segments and repeated slashes fold away; a name
 * that folds to nothing is the root itself and comes back as ''.
 */
export function safeRelativePath(name: string): string {
  if (name.includes('\0')) throw unsafe(`member name contains NUL: ${JSON.stringify(name)}`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw unsafe(`absolute member name ${JSON.stringify(name)}`);
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw unsafe(`member name escapes the target: ${JSON.stringify(name)}`);
  return segments.join('/');
}

export function unsafe(message: string): LarderError {
  return new LarderError('LARDER_UNSAFE_ARCHIVE', message);
}
