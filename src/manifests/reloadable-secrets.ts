import { EnvFileSecrets, type SecretSource } from './secrets.js';

/** The secrets file, re-read on every manifest reload, behind one stable object the reconcilers keep. */
export class ReloadableSecrets implements SecretSource {
  private current: EnvFileSecrets;

  constructor(private readonly file: string | undefined) {
    this.current = new EnvFileSecrets(file);
  }

  reload(): void {
    this.current = new EnvFileSecrets(this.file);
  }

  get(name: string): string | undefined {
    return this.current.get(name);
  }

  values(): readonly string[] {
    return this.current.values();
  }
}
