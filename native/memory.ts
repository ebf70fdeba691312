// Process memory: the C allocator's policy for long runs (src/memory.cc).
import { load } from './load';

/**
 * Makes the C allocator give large freed blocks back to the system at once (glibc: a fixed mmap
 * threshold of `thresholdBytes`, default 1 MiB, instead of one that rises after each large free).
 * Long runs that build and drop block-sized buffers otherwise keep each freed block resident.
 * Returns false where it does nothing (another C library, or an addon built before this call).
 */
export function tuneAllocator(thresholdBytes = 1 << 20): boolean {
  const a = load() as unknown as { tuneAllocator?: (n: number) => boolean };
  return typeof a.tuneAllocator === 'function' ? a.tuneAllocator(thresholdBytes) : false;
}
