// `qrecipe spade FILE.qrecipe --sample TEXT [--json]`: SPADE trace of one sample (in progress).
export async function main(): Promise<number> {
  console.error('qrecipe spade: not available yet');
  return 1;
}
