/**
 * Stage parameters from the keys written in a recipe, over the defaults of the schema (its
 * `default`s, typed by the same checkers as written values: values.ts). No default is written here.
 */
import type { Val } from '../lower';
import type { AllocateParams, PruneParams, QuantParams } from '../resolved';
import { keySpec, type BlockKind } from '../schema';
import { defaultValue } from '../values';

/** The typed default of key `name` in block `block`. */
export function defaultOf<T>(block: BlockKind, name: string): T {
  const spec = keySpec(block, name);
  if (!spec) throw new Error(`no key \`${name}\` in a ${block} block`);
  const v = defaultValue(spec);
  return (Array.isArray(v) ? [...v] : v) as T; // a fresh list: results are the caller's
}

let quant: QuantParams | undefined;
let prune: PruneParams | undefined;

/** A quantize stage's parameters when it writes none. */
export function quantDefaults(): QuantParams {
  const d = <T>(name: string): T => defaultOf<T>('quantize', name);
  quant ??= {
    bits: d('bits'), group: d('group'), symmetric: d('scheme') === 'symmetric', actorder: d('actorder'),
    dampening: d('dampening'), block: d('block'), outliers: d('outliers'),
  };
  return quant;
}

/** A prune stage's parameters when it writes none. */
export function pruneDefaults(): PruneParams {
  const d = <T>(name: string): T => defaultOf<T>('prune', name);
  prune ??= { sparsity: d('sparsity'), pattern: d('pattern'), dampening: d('dampening'), block: d('block') };
  return prune;
}

/** An allocate stage's parameters: the keys written, else the defaults (`budget` has none: `missing` stands in). */
export function allocateParams(keys: Map<string, Val>, missing: AllocateParams['budget']): AllocateParams {
  const get = <T>(name: string): T => (keys.get(name)?.value as T | undefined) ?? defaultOf<T>('allocate', name);
  return {
    budget: (keys.get('budget')?.value as AllocateParams['budget'] | undefined) ?? missing,
    candidates: get('candidates'),
    metric: get('metric'),
    outliers: get('outliers'),
    group: get('group'),
    symmetric: get('scheme') === 'symmetric',
    quantizer: get('quantizer'),
  };
}

/** `p` with the quantization keys written in `keys` applied. */
export function applyQ<T extends Partial<QuantParams>>(p: T, keys: Map<string, Val>): T {
  const out: Partial<QuantParams> = { ...p };
  const g = (k: string): unknown => keys.get(k)?.value;
  if (keys.has('bits')) out.bits = g('bits') as number;
  if (keys.has('group')) out.group = g('group') as number | 'channel';
  if (keys.has('scheme')) out.symmetric = g('scheme') === 'symmetric';
  if (keys.has('actorder')) out.actorder = g('actorder') as boolean;
  if (keys.has('dampening')) out.dampening = g('dampening') as number;
  if (keys.has('block')) out.block = g('block') as number;
  if (keys.has('outliers')) out.outliers = g('outliers') as number;
  return out as T;
}

/** The pruning keys written in `keys`. */
export function applyP(keys: Map<string, Val>): Partial<PruneParams> {
  const out: Partial<PruneParams> = {};
  if (keys.has('sparsity')) out.sparsity = keys.get('sparsity')!.value as number;
  if (keys.has('pattern')) out.pattern = keys.get('pattern')!.value as PruneParams['pattern'];
  if (keys.has('dampening')) out.dampening = keys.get('dampening')!.value as number;
  if (keys.has('block')) out.block = keys.get('block')!.value as number;
  return out;
}
