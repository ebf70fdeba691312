/**
 * Whether a process recorded earlier is still that process. A pid alone is not enough: pids are
 * reused, so a run record left `running` by a crashed runner could name a live, unrelated process
 * forever (issue 20, point 4). Where the system says when a process started (Linux: /proc), the
 * record keeps a token of boot id and start time, and a live pid with another token is another process.
 */
import { readFileSync } from 'node:fs';

/** Start time of a process in clock ticks since boot (Linux /proc), or undefined. */
function startTicks(pid: number): number | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19]; // field 22, starttime
    return start && /^\d+$/.test(start) ? Number(start) : undefined;
  } catch {
    return undefined;
  }
}

/** `linux:<boot id>:<start time in clock ticks>` of a live process, or undefined where unknown. */
export function processStartToken(pid: number): string | undefined {
  const ticks = startTicks(pid);
  if (ticks === undefined) return undefined;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `linux:${boot}:${ticks}`;
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined | null = null;
/** Boot time (ms since the epoch) and clock ticks per second, checked against this process's own start. */
function clock(): { bootMs: number; hz: number } | undefined {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!btime) return undefined;
    const bootMs = Number(btime[1]) * 1000;
    if (ticksPerSecond === null) {
      // USER_HZ is 100 on Linux; trust it only if it dates this process's own start correctly
      const own = startTicks(process.pid);
      const ownStart = Date.now() - process.uptime() * 1000;
      ticksPerSecond = own !== undefined && Math.abs(bootMs + (own / 100) * 1000 - ownStart) < 3000 ? 100 : undefined;
    }
    return ticksPerSecond ? { bootMs, hz: ticksPerSecond } : undefined;
  } catch {
    return undefined;
  }
}

/** When a live process started (ms since the epoch), where the system says. */
export function processStartedAt(pid: number): number | undefined {
  const ticks = startTicks(pid);
  const c = ticks === undefined ? undefined : clock();
  return c && ticks !== undefined ? c.bootMs + (ticks / c.hz) * 1000 : undefined;
}

/** Whether a process with this pid exists (ours or another user's). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // never 0 or -1: kill() would mean a group
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is still the process that had `token` when it wrote a record at `startedAt` (ms).
 * Without a token (records of older runners), a process that started after the record cannot have
 * written it.
 */
export function isSameProcess(pid: number, token: string | undefined, startedAt?: number): boolean {
  if (!processAlive(pid)) return false;
  if (token === undefined) {
    const started = processStartedAt(pid);
    return started === undefined || startedAt === undefined || Number.isNaN(startedAt) || started <= startedAt + 2000;
  }
  const now = processStartToken(pid);
  if (now !== undefined) return now === token;
  // no token for that pid: another process we may not inspect, unless this system has no tokens at all
  return processStartToken(process.pid) === undefined;
}
