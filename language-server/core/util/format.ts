/** Human-readable sizes shared by the CLI, the language server and the extension (defined in core/format/numbers.ts). */
export { formatBytes } from '../format/numbers';
