/** Thrown for a data set that cannot be used; the message starts with the offending file. */
export class DataFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'DataFileError';
  }
}
