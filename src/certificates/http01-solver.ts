import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AcmeResponder } from '../server/acme-responder.js';
import { writeFileAtomic } from '../state/atomic-write.js';

/** Makes an http-01 key authorization reachable at http://<domain>/.well-known/acme-challenge/<token>. */
export interface Http01Solver {
  readonly description: string;
  present(token: string, keyAuthorization: string): Promise<void>;
  /** Idempotent: removing a token that is not there is success. */
  cleanup(token: string): Promise<void>;
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

function checkToken(token: string): void {
  // The token comes from the CA and becomes a file name: refuse anything that could leave the folder.
  if (!TOKEN.test(token)) throw new Error('ACME challenge token is not base64url');
}

/** The agent's own HTTP listener answers; nginx forwards the path to it (or it listens on :80 itself). */
export class AgentHttp01Solver implements Http01Solver {
  readonly description = 'agent HTTP listener';
  constructor(private readonly responder: AcmeResponder) {}

  async present(token: string, keyAuthorization: string): Promise<void> {
    checkToken(token);
    this.responder.set(token, keyAuthorization);
  }

  async cleanup(token: string): Promise<void> {
    this.responder.delete(token);
  }
}

/**
 * Token files under `<root>/.well-known/acme-challenge/`, certbot's webroot layout, for a web server
 * that shares the folder (nginx mounts it read-only). World-readable: nginx's workers are not root.
 */
export class WebrootHttp01Solver implements Http01Solver {
  readonly description: string;
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, '.well-known', 'acme-challenge');
    this.description = `webroot ${root}`;
  }

  async present(token: string, keyAuthorization: string): Promise<void> {
    checkToken(token);
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await writeFileAtomic(join(this.dir, token), keyAuthorization, 0o644);
  }

  async cleanup(token: string): Promise<void> {
    checkToken(token);
    await unlink(join(this.dir, token)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}
