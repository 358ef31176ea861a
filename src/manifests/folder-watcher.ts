import { watch, type FSWatcher } from 'chokidar';

/** Dot files and folders (the agent's own certificate versions among them) are not manifests. */
const isHidden = (path: string): boolean => /(^|[/\\])\.(?!\.?$)/.test(path.split(/[/\\]/).pop() ?? '');

/**
 * Calls `onChange` once after a burst of file changes settles: a `git checkout` writes many files
 * at once, and loading half of them would only produce errors.
 */
export class FolderWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly paths: string[],
    private readonly onChange: () => void,
    private readonly debounceMs = 300,
  ) {}

  start(): void {
    this.watcher = watch(this.paths, {
      ignoreInitial: true,
      // Editors write to a temp file then rename; waiting for the size to settle avoids half files.
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 50 },
      ignored: (path) => isHidden(path),
    });
    this.watcher.on('all', () => this.schedule());
    // chokidar stats what appears and drops what it cannot stat, so a dangling symbolic link (which
    // the loader must report) came and went without an event now and then; the watch's own raw
    // events still say that something in the folder changed.
    this.watcher.on('raw', (_event: string, path: string) => {
      if (!isHidden(path)) this.schedule();
    });
    // chokidar reports a path that changed under its feet (a folder replaced by a file while it
    // polls for a write to settle) as an 'error' event, which would otherwise crash the process.
    // Something changed: reloading looks at the folder as it is now.
    this.watcher.on('error', () => this.schedule());
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onChange();
    }, this.debounceMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.watcher?.close();
  }
}
