import { EnvFileSecrets, RememberedSecrets, type SecretSource, type SecretWarning } from './secrets.js';

/**
 * The secrets file, re-read on every manifest reload, behind one stable object the reconcilers
 * keep. A reload that fails (the file vanished, a malformed line) throws and keeps the previous
 * generation, so a rejected reload changes nothing. Remembered values survive reloads.
 */
export class ReloadableSecrets implements SecretSource {
  private current: EnvFileSecrets;
  private readonly remembered = new RememberedSecrets();

  constructor(
    private readonly file: string | undefined,
    private readonly allowEnv: readonly string[] = [],
  ) {
    this.current = this.read();
  }

  /** Re-reads the file; returns its warnings (e.g. loose permissions). */
  reload(): readonly SecretWarning[] {
    this.current = this.read();
    return this.current.warnings;
  }

  get warnings(): readonly SecretWarning[] {
    return this.current.warnings;
  }

  get(name: string): string | undefined {
    return this.current.get(name);
  }

  remember(value: string): void {
    this.remembered.add(value);
  }

  values(): readonly string[] {
    return this.current.values();
  }

  explainMissing(name: string): string {
    return this.current.explainMissing(name);
  }

  private read(): EnvFileSecrets {
    return new EnvFileSecrets(this.file, { allowEnv: this.allowEnv, remembered: this.remembered });
  }
}
