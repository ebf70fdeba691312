/**
 * Every bound QRecipe puts on untrusted input, in one place: recipes and models come from strangers,
 * and no input may make the checker, the language server or the runner hang, grow without bound or
 * crash. Each limit is reported to the user by name when it is hit (docs/recipe-language.md,
 * docs/runner.md).
 */

/** Longest `re:` pattern body accepted (characters); longer ones are refused with QR115. */
export const MAX_REGEX_CHARS = 4096;
/** Largest compiled pattern (NFA instructions after counted repetitions are expanded). */
export const MAX_REGEX_PROGRAM = 20_000;
/** Largest count in `{n}`, `{n,m}` (as RE2). */
export const MAX_REGEX_REPEAT = 1000;
/** States the lazy DFA of one pattern keeps before it starts over (bounds memory, not time). */
export const MAX_REGEX_DFA_STATES = 2000;

/** Largest .onnx file read (protobuf cannot encode more than 2 GiB; bigger models use external data). */
export const MAX_MODEL_FILE_BYTES = 2 ** 31;
/** Largest data-set file read into memory (a text corpus, an IDX file, decompressed too). */
export const MAX_DATA_FILE_BYTES = 2 ** 31;
/** Largest image decoded (pixels), so a PNG header cannot make us allocate gigabytes. */
export const MAX_IMAGE_PIXELS = 2 ** 26;
/** Most files hashed in one data-set folder (a run records the hash of its inputs). */
export const MAX_HASHED_FILES = 1_000_000;
/** Largest recipe file read (a recipe is a page of text; a 16 MiB one is junk, still checked). */
export const MAX_RECIPE_BYTES = 16 << 20;
/** Diagnostics published for one file (LSP) or printed by `qrecipe check`; the rest are counted. */
export const MAX_DIAGNOSTICS_SHOWN = 1000;
/** Largest run.json read (a record is kilobytes; per-layer results of a huge model stay far below). */
export const MAX_RUN_RECORD_BYTES = 64 << 20;
/** Largest sensitivity cache entry read (per-layer scores and a few measured points: far below). */
export const MAX_SENSITIVITY_CACHE_BYTES = 64 << 20;
/** Largest quant.bin of a run read back whole by `qrecipe export` (what one read can hold). */
export const MAX_QUANT_STORE_BYTES = 2 ** 31 - 1;
/** Names a "did you mean" suggestion compares against (the first ones; a model may have 100k layers). */
export const MAX_SUGGESTION_CANDIDATES = 5000;
/** Names listed in a message ("Data sets: a, b, c, ..."); the rest are counted. */
export const MAX_NAMES_LISTED = 10;
/** "Did you mean" suggestions computed per analysis (each compares against every layer name). */
export const MAX_SUGGESTIONS = 200;
/** The analysis yields to the event loop at least this often (ms), so the server answers other requests. */
export const ANALYSIS_SLICE_MS = 10;
/** Largest document the language server analyses live; a bigger one gets QR132 (run `qrecipe check`). */
export const MAX_LIVE_RECIPE_BYTES = 1 << 20;
/** Differing lines a recipe diff resolves exactly (Myers' O(ND)); past it the middle shows as replaced. */
export const MAX_DIFF_EDITS = 2000;
/** Other layers named in a tied weight's `sharedWith` (a weight may feed 100k nodes). */
export const MAX_SHARED_NAMES = 32;
/** Largest LSP message read over stdio (a whole document travels in one; the limit bounds the buffer). */
export const MAX_LSP_MESSAGE_BYTES = 128 << 20;
