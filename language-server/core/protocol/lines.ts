// Splits a text stream into lines as chunks arrive (NDJSON event streams: the runner's stdout).
// Chunk boundaries fall anywhere; a line is handed over once its newline has come, trimmed, empty
// lines skipped; `flush` hands over a last line that had no newline.

export interface LineSplitter {
  push(chunk: string): void;
  flush(): void;
}

export function lineSplitter(onLine: (line: string) => void): LineSplitter {
  let buffered = '';
  return {
    push(chunk) {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) onLine(line);
      }
    },
    flush() {
      const line = buffered.trim();
      buffered = '';
      if (line) onLine(line);
    },
  };
}
