import { EXEC_PROTOCOL, execQuery, FRAME, frame, FrameReader } from '../server/exec-protocol.js';
import type { AgentClient } from './agent-client.js';

/**
 * `exec SERVICE -- CMD...`: the agent runs the command in the service's container and relays the
 * session over an upgraded connection (exec-protocol.ts). With a terminal, stdin goes raw and the
 * terminal's size follows it; stdin is always passed on, and its end closes the command's.
 * Resolves with the command's exit code.
 */
export async function execCommand(client: AgentClient, service: string, command: string[], opts: { tty: boolean }): Promise<number> {
  const size = opts.tty ? { cols: process.stdout.columns, rows: process.stdout.rows } : undefined;
  const { socket, head } = await client.upgrade(`/v1/exec/${encodeURIComponent(service)}?${execQuery(command, size)}`, EXEC_PROTOCOL);
  const stdin = process.stdin;
  const raw = opts.tty && stdin.isTTY;
  const sendSize = (): void => void socket.write(frame(FRAME.resize, JSON.stringify({ cols: process.stdout.columns, rows: process.stdout.rows })));
  if (opts.tty) process.stdout.on('resize', sendSize);
  if (raw) stdin.setRawMode(true);
  const onInput = (chunk: Buffer): void => void socket.write(frame(FRAME.stdin, chunk));
  const onEnd = (): void => void socket.write(frame(FRAME.stdinEnd));
  stdin.on('data', onInput);
  stdin.once('end', onEnd);
  try {
    return await new Promise<number>((resolve, reject) => {
      let exit: number | undefined;
      const reader = new FrameReader((type, payload) => {
        if (type === FRAME.stdout) process.stdout.write(payload);
        else if (type === FRAME.stderr) process.stderr.write(payload);
        else if (type === FRAME.exit) {
          const result = JSON.parse(payload.toString('utf8')) as { exitCode?: number; error?: string };
          if (result.error !== undefined) reject(new Error(`exec in ${service}: ${result.error}`));
          else exit = result.exitCode ?? 1;
        }
      });
      if (head.length > 0) reader.push(head);
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => (exit === undefined ? reject(new Error(`the agent closed the exec session in ${service} before the command ended`)) : resolve(exit)));
    });
  } finally {
    if (raw) stdin.setRawMode(false);
    stdin.off('data', onInput);
    stdin.off('end', onEnd);
    stdin.pause();
    process.stdout.off('resize', sendSize);
    socket.destroy();
  }
}
