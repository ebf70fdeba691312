/**
 * Image data sets: folders of PNG files with labels, and turning an image into a model input
 * (resize, channel layout, scaling and normalisation).
 */
import { promises as fs, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodePng, type RgbaImage } from './png';
import { readBytes } from './text';
import { DataFileError } from './errors';

export interface LabelledImages {
  /** Absolute image paths. */
  files: string[];
  labels: number[];
  /** Class names when labels came from sub-folder names (index = label). */
  classes?: string[];
}

export async function readPng(file: string): Promise<RgbaImage> {
  const abs = path.resolve(file);
  const buf = await readBytes(abs);
  try {
    return decodePng(buf, abs);
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    throw new DataFileError(abs, `unreadable image (${(err as Error).message})`);
  }
}

/** Parses `file<TAB or spaces>label` lines (blank lines and `#` comments skipped). */
export async function readLabelLines(labelsFile: string): Promise<[string, string][]> {
  const text = new TextDecoder().decode(await readBytes(labelsFile));
  const out: [string, string][] = [];
  text.split(/\r?\n/).forEach((line, k) => {
    if (!line.trim() || line.startsWith('#')) return;
    const m = /^([^\t]+)\t(.*)$/.exec(line) ?? /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new DataFileError(path.resolve(labelsFile), `line ${k + 1}: expected 'file<TAB>label'`);
    out.push([m[1]!, m[2]!]);
  });
  return out;
}

/**
 * A folder of PNG images with labels: `labels.tsv`/`labels.txt` in the folder (or `labelsFile`)
 * mapping file → integer label, or one sub-folder per class (class = sorted folder index).
 */
export async function listImageFolder(dir: string, labelsFile?: string): Promise<LabelledImages> {
  const root = path.resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DataFileError(root, 'not a folder of images');
  const lf = labelsFile ?? ['labels.tsv', 'labels.txt'].map((n) => path.join(root, n)).find((p) => existsSync(p));
  if (lf) {
    const lines = await readLabelLines(lf);
    const pngs = (await fs.readdir(root)).filter((n) => /\.png$/i.test(n));
    if (pngs.length !== lines.length) {
      throw new DataFileError(path.resolve(lf), `${lines.length} labels for ${pngs.length} PNG images in ${root}`);
    }
    const files: string[] = [];
    const labels: number[] = [];
    lines.forEach(([name, label], k) => {
      const value = Number(label);
      if (!Number.isInteger(value)) throw new DataFileError(path.resolve(lf), `line ${k + 1}: label '${label}' is not an integer class index`);
      const f = path.resolve(root, name);
      if (!existsSync(f)) throw new DataFileError(path.resolve(lf), `line ${k + 1}: image '${name}' not found in ${root}`);
      files.push(f);
      labels.push(value);
    });
    return { files, labels };
  }
  const classes = (await fs.readdir(root)).filter((n) => statSync(path.join(root, n)).isDirectory()).sort();
  if (!classes.length) throw new DataFileError(root, 'no labels.tsv and no class sub-folders');
  const files: string[] = [];
  const labels: number[] = [];
  for (const [k, c] of classes.entries()) {
    for (const n of (await fs.readdir(path.join(root, c))).filter((x) => /\.png$/i.test(x)).sort()) {
      files.push(path.join(root, c, n));
      labels.push(k);
    }
  }
  return { files, labels, classes };
}

/**
 * Bilinear resize of one channel plane with half-pixel centres and no antialiasing (as OpenCV's
 * INTER_LINEAR); `precise` keeps the result in float64 until the caller rounds it to float32.
 */
export function resizePlane(src: Float32Array, w: number, h: number, ow: number, oh: number, precise = false): Float32Array | Float64Array {
  const out = precise ? new Float64Array(ow * oh) : new Float32Array(ow * oh);
  const sx = w / ow;
  const sy = h / oh;
  for (let y = 0; y < oh; y++) {
    let fy = (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    let y0 = Math.floor(fy);
    if (y0 > h - 1) y0 = h - 1;
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = Math.min(fy - y0, 1);
    for (let x = 0; x < ow; x++) {
      let fx = (x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      let x0 = Math.floor(fx);
      if (x0 > w - 1) x0 = w - 1;
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = Math.min(fx - x0, 1);
      const top = src[y0 * w + x0]! * (1 - wx) + src[y0 * w + x1]! * wx;
      const bot = src[y1 * w + x0]! * (1 - wx) + src[y1 * w + x1]! * wx;
      out[y * ow + x] = top * (1 - wy) + bot * wy;
    }
  }
  return out;
}

export interface ImageInputSpec {
  channels: 1 | 3;
  height: number;
  width: number;
  /** Per-channel mean/std applied after scaling to [0,1]: (v/255 − mean)/std. */
  mean?: number[];
  std?: number[];
  /** Channel order blue, green, red (OpenCV-trained models such as PaddleOCR). */
  bgr?: boolean;
}

/** CHW float32 planes of an image, resized to the spec and normalised. */
export function imageToChw(img: RgbaImage, spec: ImageInputSpec): Float32Array {
  const { width: w, height: h } = img;
  const planes: Float32Array[] = [];
  const order = spec.channels === 1 ? [-1] : spec.bgr ? [2, 1, 0] : [0, 1, 2];
  for (const ch of order) {
    const p = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) {
      const o = i * 4;
      // grey as ITU-R BT.601 luma, as image libraries convert RGB to L
      p[i] = ch < 0 ? 0.299 * img.rgba[o]! + 0.587 * img.rgba[o + 1]! + 0.114 * img.rgba[o + 2]! : img.rgba[o + ch]!;
    }
    planes.push(w === spec.width && h === spec.height ? p : Float32Array.from(resizePlane(p, w, h, spec.width, spec.height)));
  }
  const out = new Float32Array(spec.channels * spec.width * spec.height);
  planes.forEach((p, c) => {
    const mean = spec.mean?.[c] ?? spec.mean?.[0] ?? 0;
    const std = spec.std?.[c] ?? spec.std?.[0] ?? 1;
    const base = c * p.length;
    for (let i = 0; i < p.length; i++) out[base + i] = (p[i]! / 255 - mean) / std;
  });
  return out;
}
