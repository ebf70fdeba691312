/** Human-readable sizes shared by the CLI, the language server and the extension. */

/** A byte count in binary units: 512 → "512 B", 1536 → "1.5 KiB", 1572864 → "1.50 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
