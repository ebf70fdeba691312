// Document URIs ↔ file paths. Untitled documents get a path in the working folder so that
// relative paths in them still resolve somewhere sensible.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export function uriToPath(uri: string): string {
  if (uri.startsWith('file:')) {
    try { return fileURLToPath(uri); } catch { /* fall through */ }
  }
  return path.join(process.cwd(), `untitled-${encodeURIComponent(uri).slice(0, 80)}.qrecipe`);
}

export function pathToUri(p: string): string {
  return pathToFileURL(p).href;
}
