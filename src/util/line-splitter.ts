/**
 * Turns a stream of text chunks into whole lines (NDJSON from Docker's event stream or the agent's
 * trigger endpoint): a line split across chunks is held until its newline arrives.
 */
export class LineSplitter {
  private buffered = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onLine(line);
    }
  }
}
