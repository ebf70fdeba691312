// A small, strict command-line parser shared by the sub-commands: known flags, options with one
// value (`--name value` or `--name=value`), and positionals; anything else is a usage error.

export interface ParsedArgs {
  positionals: string[];
  flags: Set<string>;
  options: Map<string, string>;
}

export class UsageError extends Error {}

/** `flags` take no value; `options` take one. Names are given without the leading dashes. */
export function parseArgs(args: string[], spec: { flags?: string[]; options?: string[]; short?: Record<string, string> }): ParsedArgs {
  const flags = new Set<string>();
  const options = new Map<string, string>();
  const positionals: string[] = [];
  const knownFlags = new Set(spec.flags ?? []);
  const knownOptions = new Set(spec.options ?? []);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { positionals.push(...args.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    let name = a.startsWith('--') ? a.slice(2, eq > 0 ? eq : undefined) : spec.short?.[a.slice(1)] ?? '';
    if (!name) throw new UsageError(`unknown option ${a}`);
    if (!a.startsWith('--') && eq > 0) name = '';
    if (knownFlags.has(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (knownOptions.has(name)) {
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      options.set(name, value);
    } else {
      throw new UsageError(`unknown option ${a}`);
    }
  }
  return { positionals, flags, options };
}

/** Runs a command body, turning UsageError into the help text and exit code 2. */
export async function withUsage(command: string, help: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`qrecipe ${command}: ${err.message}\n\n${help}`);
      return 2;
    }
    throw err;
  }
}
