// Generates a Llama-7B-shaped model (test/fixtures/gen-llama-shaped.ts) where bench:scale --gpu
// looks for it, and writes FILE.done when complete: the GPU session starts it in the background
// while the GPU tests run. Usage: node gen-llama.js FILE BLOCKS
import { writeFileSync } from 'node:fs';
import { generateLlamaShaped, LLAMA_7B } from '../fixtures/gen-llama-shaped';

const [file, blocks] = [process.argv[2], Number(process.argv[3] ?? 32)];
if (!file || !Number.isInteger(blocks) || blocks < 1) {
  console.error('usage: node gen-llama.js FILE BLOCKS');
  process.exit(2);
}
generateLlamaShaped(file, { ...LLAMA_7B, blocks }).then((g) => {
  console.log(`generated ${file}: ${(g.params / 1e6).toFixed(1)} M params, ${(g.bytes / 1e9).toFixed(2)} GB in ${g.seconds.toFixed(1)} s`);
  writeFileSync(`${file}.done`, String(g.seconds));
}, (e: unknown) => {
  console.error(e);
  process.exit(1);
});
