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
  const files = lines.map(([name], k) => {
    const f = path.resolve(path.dirname(lf), name);
    if (!existsSync(f)) throw new DataFileError(lf, `line ${k + 1}: image '${name}' not found`);
    return f;
  });
  return { files, texts: lines.map(([, t]) => t) };
}

/**
 * PP-OCR recogniser input: height 48, width = max(320, ⌊48·w/h⌋) (the default 3×48×320 shape
 * widened to the image's aspect ratio), resized to ⌈48·w/h⌉ columns (capped), BGR channel order,
 * (v/255 − 0.5)/0.5, zero-padded on the right. Returns the CHW tensor data and its width.
 */
export function ppocrInput(img: RgbaImage, height = 48, minWidth = 320): { data: Float32Array; width: number } {
  const ratio = img.width / img.height;
  const width = Math.floor(height * Math.max(minWidth / height, ratio));
  const resized = Math.min(width, Math.ceil(height * ratio));
  const data = new Float32Array(3 * height * width);
  [2, 1, 0].forEach((ch, c) => {
    const p = new Float32Array(img.width * img.height);
    for (let i = 0; i < p.length; i++) p[i] = img.rgba[i * 4 + ch]!;
    const r = resizePlane(p, img.width, img.height, resized, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < resized; x++) data[c * height * width + y * width + x] = (r[y * resized + x]! / 255 - 0.5) / 0.5;
    }
  });
  return { data, width };
}

/** CTC classes of a PP-OCR recogniser: 0 = blank, then the key file's characters, then a space. */
export async function readCharList(keysFile: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readBytes(keysFile));
  const chars = text.split(/\r?\n/).filter((l, k, all) => l.length > 0 || k < all.length - 1);
  return ['', ...chars, ' '];
}

/** Greedy CTC: argmax per time step, merge repeats, drop blanks (class 0). */
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
  return out;
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
