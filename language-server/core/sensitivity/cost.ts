/**
 * Weight memory of one quantised layer, as the allocation budget counts it:
 * codes n·b bits, one fp16 scale (+ one fp16 zero point when asymmetric) per group, and the sparse
 * fp16 outliers in CSR form (fp16 value + int32 column index per outlier, int32 row pointers).
 */

export interface LayerShape {
  rows: number;
  cols: number;
}

export interface QuantLayout {
  /** Columns per group, or one group per output row. */
  group: number | 'channel';
  symmetric: boolean;
}

export interface LayerBytes {
  codes: number;
  scales: number;
  outliers: number;
  total: number;
}

/** Number of outliers kept for a fraction of a layer's weights (⌊fraction·n⌋, as the addon keeps). */
export function outlierCount(shape: LayerShape, fraction: number): number {
  return Math.floor(fraction * shape.rows * shape.cols + 1e-9);
}

/** Groups (scale/zero pairs) of a layer under a layout; a partial last group counts as one. */
export function groupCount(shape: LayerShape, layout: QuantLayout): number {
  return layout.group === 'channel' ? shape.rows : shape.rows * Math.ceil(shape.cols / layout.group);
}

export function layerBytes(shape: LayerShape, bits: number, layout: QuantLayout, outlierFraction: number): LayerBytes {
  const codes = Math.ceil((shape.rows * shape.cols * bits) / 8);
  const scales = groupCount(shape, layout) * (layout.symmetric ? 2 : 4);
  const nnz = outlierCount(shape, outlierFraction);
  const outliers = nnz > 0 ? nnz * (2 + 4) + (shape.rows + 1) * 4 : 0;
  return { codes, scales, outliers, total: codes + scales + outliers };
}

