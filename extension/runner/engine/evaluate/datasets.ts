/**
 * Turns a data-set path into model-ready samples for a given model input: IDX image/label files,
 * PNG folders with labels, text files (byte-level windows) and OCR line folders.
 */
import path from 'node:path';
import { statSync, existsSync } from 'node:fs';
import { readIdx } from '../../../../language-server/core/model/data/idx';
import { listImageFolder, readPng, imageToChw } from '../../../../language-server/core/model/data/images';
import { DataFileError } from '../../../../language-server/core/model/data/errors';
import { listOcrLines, ppocrInput } from '../../../../language-server/core/model/data/ocr';
import { byteWindows, tokenWindows, type WindowOptions } from '../../../../language-server/core/model/data/text';
import { encodeFile } from '../../../../language-server/core/model/data/tokenizer';
import type { LongRunOptions } from '../../../../language-server/core/util/cancel';
import { lmFeeds, type ModelIo } from './io';
import { floatTensor, floatTypeOf } from './tensor-data';
import type { SampleSource } from './accuracy';
import type { FeedBatch } from './agreement';

export interface ImageOptions { labels?: string; mean?: number[]; std?: number[]; bgr?: boolean; limit?: number }

function chwOf(io: ModelIo, file: string): [number, number, number] {
  const [, c, h, w] = io.shape;
  if (io.shape.length !== 4 || !c || !h || !w || (c !== 1 && c !== 3)) {
    throw new Error(`${file}: expected an image input [N, 1|3, H, W] with fixed C, H, W; '${io.input}' is [${io.shape.map((d) => d ?? '?').join(', ')}]`);
  }
  return [c, h, w];
}

/** Image samples with labels from IDX files (`data` images, `opts.labels` labels) or a PNG folder. */
export async function imageSamples(data: string, io: ModelIo, model: string, opts: ImageOptions = {}): Promise<SampleSource> {
  const [c, h, w] = chwOf(io, model);
  const abs = path.resolve(data);
  if (!existsSync(abs)) throw new DataFileError(abs, 'data set not found');
  const norm = (v: number, ch: number): number => (v / 255 - (opts.mean?.[ch] ?? opts.mean?.[0] ?? 0)) / (opts.std?.[ch] ?? opts.std?.[0] ?? 1);
  if (statSync(abs).isFile()) {
    if (!opts.labels) throw new DataFileError(abs, 'an IDX image file needs its label file (--labels)');
    const images = await readIdx(abs);
    const labels = await readIdx(opts.labels);
    const n = images.dims[0] ?? 0;
    if (labels.dims.length !== 1 || labels.dims[0] !== n) {
      throw new DataFileError(labels.file, `${labels.dims[0] ?? 0} labels for ${n} images in ${abs}`);
    }
    const [ih, iw] = [images.dims[1] ?? 0, images.dims[2] ?? 0];
    if (ih !== h || iw !== w || (images.dims[3] ?? 1) !== 1) throw new DataFileError(abs, `images are ${images.dims.slice(1).join('x')}, the model takes ${h}x${w}`);
    const count = Math.min(n, opts.limit ?? n);
    return {
      count, sampleShape: [c, h, w], labels: Array.from(labels.data.subarray(0, count), Number),
      async get(start, end) {
        const out = new Float32Array((end - start) * c * h * w);
        for (let s = start; s < end; s++) {
          for (let ch = 0; ch < c; ch++) {
            for (let i = 0; i < h * w; i++) out[((s - start) * c + ch) * h * w + i] = norm(images.data[s * h * w + i]!, ch);
          }
        }
        return out;
      },
    };
  }
  const folder = await listImageFolder(abs, opts.labels);
  const count = Math.min(folder.files.length, opts.limit ?? folder.files.length);
  return {
    count, sampleShape: [c, h, w], labels: folder.labels.slice(0, count),
    async get(start, end) {
      const out = new Float32Array((end - start) * c * h * w);
      for (let s = start; s < end; s++) {
        const img = await readPng(folder.files[s]!);
        out.set(imageToChw(img, { channels: c as 1 | 3, height: h, width: w, mean: opts.mean, std: opts.std, bgr: opts.bgr }), (s - start) * c * h * w);
      }
      return out;
    },
  };
}

/** The LM window length: the model's fixed sequence dimension, else `seqlen`. */
export function lmSeqlen(io: ModelIo, seqlen?: number): number {
  const fixed = io.shape[1];
  if (fixed && seqlen && fixed !== seqlen) throw new Error(`the model takes exactly ${fixed} tokens; --seqlen ${seqlen} does not fit`);
  const L = fixed ?? seqlen;
  if (!L) throw new Error('the model has a free sequence length: give --seqlen');
  return L;
}

/**
 * Token windows of a text file: byte-level, or through a tokenizer.json; `bytesPerToken` turns
 * per-token cross-entropy into bits per byte.
 */
export async function textWindows(
  data: string,
  seqlen: number,
  opts: WindowOptions & LongRunOptions,
  tokenizer?: string,
): Promise<{ windows: Int32Array[]; bytesPerToken: number }> {
  if (!tokenizer) return { windows: await byteWindows(data, seqlen, opts), bytesPerToken: 1 };
  const { ids, bytes } = await encodeFile(tokenizer, data, { signal: opts.signal, onProgress: opts.onProgress });
  return { windows: tokenWindows(ids, seqlen, path.resolve(data), opts), bytesPerToken: bytes / ids.length };
}

/** Feed batches for agreement runs, for any task. */
export async function feedBatches(
  data: string,
  io: ModelIo,
  model: string,
  opts: ImageOptions & WindowOptions & { seqlen?: number; batch?: number; tokenizer?: string },
): Promise<{ total: number; batches: () => AsyncIterable<FeedBatch> }> {
  const batch = opts.batch ?? (io.task === 'lm' ? 4 : 32);
  if (io.task === 'lm') {
    const { windows } = await textWindows(data, lmSeqlen(io, opts.seqlen), opts, opts.tokenizer);
    return {
      total: windows.length,
      async *batches() {
        for (let i = 0; i < windows.length; i += batch) {
          const g = windows.slice(i, i + batch);
          yield { feeds: lmFeeds(io, g), samples: g.length };
        }
      },
    };
  }
  if (io.task === 'ocr') {
    const lines = await listOcrLines(data, opts.labels);
    const files = lines.files.slice(0, opts.limit ?? lines.files.length);
    return {
      total: files.length,
      async *batches() {
        for (const f of files) {
          const { data: x, width } = ppocrInput(await readPng(f), io.shape[2] ?? 48);
          yield { feeds: { [io.input]: floatTensor(floatTypeOf(io.inputType) ?? 'float32', x, [1, 3, io.shape[2] ?? 48, width]) }, samples: 1 };
        }
      },
    };
  }
  const src = await imageSamples(data, io, model, { ...opts, labels: opts.labels });
  return {
    total: src.count,
    async *batches() {
      for (let i = 0; i < src.count; i += batch) {
        const end = Math.min(src.count, i + batch);
        yield { feeds: { [io.input]: floatTensor(floatTypeOf(io.inputType) ?? 'float32', await src.get(i, end), [end - i, ...src.sampleShape]) }, samples: end - i };
      }
    },
  };
}
