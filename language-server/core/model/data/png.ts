/**
 * A small PNG decoder (non-interlaced; grey, grey+alpha, RGB, RGBA, palette; 1–16 bits) producing
 * 8-bit RGBA. Enough for data-set images; anything else is refused with a clear error.
 */
import { inflateSync } from 'node:zlib';
import { DataFileError } from './errors';
import { MAX_IMAGE_PIXELS } from '../../util/limits';

export interface RgbaImage { width: number; height: number; rgba: Uint8Array }

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(buf: Uint8Array, file: string): RgbaImage {
  if (buf.length < 8 || SIGNATURE.some((v, i) => buf[i] !== v)) throw new DataFileError(file, 'not a PNG image');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, color = 0, interlace = 0;
  let palette: Uint8Array | undefined;
  let trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= buf.length) {
    const len = dv.getUint32(pos, false);
    const type = String.fromCharCode(...buf.subarray(pos + 4, pos + 8));
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (body.length < len) throw new DataFileError(file, `truncated PNG (${type} chunk)`);
    if (type === 'IHDR') {
      width = dv.getUint32(pos + 8, false); height = dv.getUint32(pos + 12, false);
      depth = body[8]!; color = body[9]!; interlace = body[12]!;
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (!width || !height) throw new DataFileError(file, 'PNG without an IHDR header');
  if (width * height > MAX_IMAGE_PIXELS) throw new DataFileError(file, `the PNG is ${width}×${height} pixels, more than the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')} QRecipe decodes`);
  if (interlace) throw new DataFileError(file, 'interlaced PNG images are not supported');
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[color];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth)) throw new DataFileError(file, `unsupported PNG colour type ${color} / bit depth ${depth}`);
  let raw: Uint8Array;
  try {
    const all = new Uint8Array(idat.reduce((a, b) => a + b.length, 0));
    idat.reduce((o, b) => { all.set(b, o); return o + b.length; }, 0);
    // no more than the rows need (plus slack), so a deflate bomb cannot allocate gigabytes
    raw = new Uint8Array(inflateSync(all, { maxOutputLength: height * (Math.ceil((width * channels * depth) / 8) + 1) + 1024 }));
  } catch (err) {
    throw new DataFileError(file, `corrupt PNG image data (${(err as Error).message})`);
  }
  const bitsPerPixel = channels * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  if (raw.length < height * (stride + 1)) throw new DataFileError(file, 'truncated PNG image data');
  const lines = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = lines.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? lines.subarray((y - 1) * stride, y * stride) : undefined;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[x - bpp]! : 0;
      const b = prev ? prev[x]! : 0;
      const c = prev && x >= bpp ? prev[x - bpp]! : 0;
      const v = src[x]!;
      switch (filter) {
        case 0: out[x] = v; break;
        case 1: out[x] = v + a; break;
        case 2: out[x] = v + b; break;
        case 3: out[x] = v + ((a + b) >> 1); break;
        case 4: out[x] = v + paeth(a, b, c); break;
        default: throw new DataFileError(file, `bad PNG filter type ${filter} on row ${y}`);
      }
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  const sample = (row: number, idx: number): number => {
    // value of sample `idx` (in channel units) of a row, scaled to 8 bits (palette indices unscaled)
    const line = lines.subarray(row * stride, (row + 1) * stride);
    if (depth === 8) return line[idx]!;
    if (depth === 16) return line[idx * 2]!;
    const perByte = 8 / depth;
    const byte = line[Math.floor(idx / perByte)]!;
    const shift = 8 - depth * ((idx % perByte) + 1);
    const v = (byte >> shift) & ((1 << depth) - 1);
    return color === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (color === 3) {
        const i = sample(y, x);
        if (!palette || i * 3 + 2 >= palette.length) throw new DataFileError(file, 'PNG palette index out of range');
        rgba[o] = palette[i * 3]!; rgba[o + 1] = palette[i * 3 + 1]!; rgba[o + 2] = palette[i * 3 + 2]!;
        rgba[o + 3] = trns && i < trns.length ? trns[i]! : 255;
      } else if (channels <= 2) {
        const g = sample(y, x * channels);
        rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
        rgba[o + 3] = channels === 2 ? sample(y, x * 2 + 1) : 255;
      } else {
        for (let ch = 0; ch < 3; ch++) rgba[o + ch] = sample(y, x * channels + ch);
        rgba[o + 3] = channels === 4 ? sample(y, x * 4 + 3) : 255;
      }
    }
  }
  return { width, height, rgba };
}
