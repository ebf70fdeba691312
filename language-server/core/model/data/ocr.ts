/**
 * OCR text-line data sets (a folder of line images with `labels.tsv`: `file<TAB>text`), PP-OCR
 * recognition preprocessing, the recogniser's character list, and greedy CTC decoding.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { readLabelLines, readPng, resizePlane } from './images';
import { readBytes } from './text';
import { DataFileError } from './errors';
import type { RgbaImage } from './png';

export interface OcrLines { files: string[]; texts: string[] }

export async function listOcrLines(dir: string, labelsFile?: string): Promise<OcrLines> {
  const root = path.resolve(dir);
  const lf = path.resolve(labelsFile ?? path.join(root, 'labels.tsv'));
  if (!existsSync(lf)) throw new DataFileError(lf, 'labels file not found (expected file<TAB>text lines)');
  const lines = await readLabelLines(lf);
  if (!lines.length) throw new DataFileError(lf, 'no labelled lines');
  // Images sit beside the labels file or in its `images/` sub-folder.
  const files = lines.map(([name], k) => {
    const f = [path.resolve(path.dirname(lf), name), path.resolve(path.dirname(lf), 'images', name)].find((p) => existsSync(p));
    if (!f) throw new DataFileError(lf, `line ${k + 1}: image '${name}' not found`);
    return f;
  });
  return { files, texts: lines.map(([, t]) => t) };
}

/**
 * PP-OCR recogniser input, one line at a time without padding (the protocol of
 * test/fixtures/README.md): height 48, width min(⌈48·w/h⌉, maxWidth), bilinear resize with
 * half-pixel centres on the 0..255 values, (v/255 − 0.5)/0.5, CHW in R, G, B order.
 */
export function ppocrInput(img: RgbaImage, height = 48, maxWidth = 960): { data: Float32Array; width: number } {
  const width = Math.max(1, Math.min(Math.ceil((height * img.width) / img.height), maxWidth));
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++) {
    const p = new Float32Array(img.width * img.height);
    for (let i = 0; i < p.length; i++) p[i] = img.rgba[i * 4 + c]!;
    const r = resizePlane(p, img.width, img.height, width, height, true);
    const base = c * height * width;
    for (let i = 0; i < r.length; i++) data[base + i] = (r[i]! / 255 - 0.5) / 0.5;
  }
  return { data, width };
}

/** CTC classes of a PP-OCR recogniser: 0 = blank, then the key file's characters, then a space. */
export async function readCharList(keysFile: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readBytes(keysFile));
  const chars = text.split(/\r?\n/).filter((l, k, all) => l.length > 0 || k < all.length - 1);
  return ['', ...chars, ' '];
}

/** Greedy CTC: argmax per time step (lowest index wins ties), merge repeats, drop blanks (class 0), trim spaces. */
export function ctcGreedy(probs: Float32Array, steps: number, classes: number, chars: string[]): string {
  let out = '';
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    let bv = -Infinity;
    const base = t * classes;
    for (let c = 0; c < classes; c++) {
      const v = probs[base + c]!;
      if (v > bv) { bv = v; best = c; }
    }
    if (best !== prev && best !== 0) out += chars[best] ?? '';
    prev = best;
  }
  return out.replace(/^ +| +$/g, '');
}

/** Levenshtein distance over Unicode code points. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}

export { readPng };
