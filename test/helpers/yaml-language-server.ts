import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** An LSP diagnostic, as far as the tests read it. */
export interface Diagnostic {
  message: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
}

interface Message {
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { message: string };
}

const SERVER = createRequire(import.meta.url).resolve('yaml-language-server/bin/yaml-language-server');

/**
 * The real YAML language server (the one VS Code, Neovim and Helix run), spoken to over stdio
 * as an editor does: framed JSON-RPC, documents opened by URI, diagnostics pushed back.
 * Only the few calls the tests need; no network (the schema store is off).
 */
export class YamlLanguageServer {
  private nextId = 1;
  private buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly diagnostics = new Map<string, (d: Diagnostic[]) => void>();
  private configured: () => void = () => undefined;

  private constructor(
    private readonly child: ChildProcess,
    /** Editor settings by section, as the server asks for them (workspace/configuration). */
    private readonly settings: Record<string, unknown>,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /** `schemas` is the editor setting yaml.schemas: schema URI → glob(s) of the files it applies to. */
  static async start(rootUri: string, schemas: Record<string, string | string[]> = {}): Promise<YamlLanguageServer> {
    const child = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const server = new YamlLanguageServer(child, { yaml: { validate: true, hover: true, completion: true, schemas, schemaStore: { enable: false } } });
    await server.request('initialize', {
      processId: process.pid,
      rootUri,
      capabilities: { workspace: { configuration: true }, textDocument: { hover: { contentFormat: ['plaintext'] } } },
    });
    // On `initialized` the server asks for the settings; once they are answered (and a round trip
    // has let it apply them), documents opened are checked with them.
    const configured = new Promise<void>((resolve) => (server.configured = resolve));
    server.notify('initialized', {});
    await configured;
    await server.hover('untitled:settings-applied', 0, 0);
    return server;
  }

  /** Opens a document and resolves with the first diagnostics the server publishes for it. */
  open(uri: string, text: string): Promise<Diagnostic[]> {
    const published = new Promise<Diagnostic[]>((resolve) => this.diagnostics.set(uri, resolve));
    this.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'yaml', version: 1, text } });
    return published;
  }

  /** The hover text at a position (zero-based line and character), or '' when there is none. */
  async hover(uri: string, line: number, character: number): Promise<string> {
    const result = (await this.request('textDocument/hover', { textDocument: { uri }, position: { line, character } })) as
      | { contents: string | { value: string } }
      | null;
    if (!result) return '';
    return typeof result.contents === 'string' ? result.contents : result.contents.value;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.request('shutdown', null).catch(() => undefined);
    this.notify('exit', null);
    await exited;
  }

  private request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send({ jsonrpc: '2.0', id, method, params });
    return answer;
  }

  private notify(method: string, params: unknown): void {
    this.send({ jsonrpc: '2.0', method, params });
  }

  private send(message: object): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.child.stdin?.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin?.write(body);
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerEnd = this.buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString())?.[1]);
      const start = headerEnd + 4;
      if (this.buffer.length < start + length) return;
      const message = JSON.parse(this.buffer.subarray(start, start + length).toString('utf8')) as Message;
      this.buffer = this.buffer.subarray(start + length);
      this.dispatch(message);
    }
  }

  private dispatch(message: Message): void {
    if (message.method === undefined && message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
      return;
    }
    if (message.method === 'textDocument/publishDiagnostics') {
      const { uri, diagnostics } = message.params as { uri: string; diagnostics: Diagnostic[] };
      this.diagnostics.get(uri)?.(diagnostics);
      this.diagnostics.delete(uri);
      return;
    }
    if (message.method === 'workspace/configuration' && message.id !== undefined) {
      const { items } = message.params as { items: { section?: string }[] };
      this.send({ jsonrpc: '2.0', id: message.id, result: items.map((i) => this.settings[i.section ?? ''] ?? null) });
      this.configured();
      return;
    }
    // Other server-to-client requests (registerCapability, workDoneProgress/create): accept them.
    if (message.id !== undefined) this.send({ jsonrpc: '2.0', id: message.id, result: null });
  }
}
