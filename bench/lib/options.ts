/** Command-line options of `npm run bench` (see docs/benchmarks.md). */
export interface BenchOptions {
  rounds: number;
  /** Rounds of the 200-service cold start, the slowest benchmark. */
  scaleRounds: number;
  scaleServices: number;
  chainServices: number;
  edits: number;
  idleSeconds: number;
  /** Benchmarks to run (all when empty): cold, heal, change, scale, deploy, cli. */
  only: Set<string>;
  quick: boolean;
}

const USAGE = `usage: npm run bench -- [--rounds N] [--quick] [--idle-seconds S] [--scale-rounds N] [--scale-services N] [--edits N] [--only cold,heal,change,scale,deploy,cli]`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const opts: BenchOptions = {
    rounds: quick ? 1 : 5,
    scaleRounds: quick ? 1 : 2,
    scaleServices: quick ? 30 : 200,
    chainServices: 20,
    edits: quick ? 3 : 20,
    idleSeconds: quick ? 5 : 60,
    only: new Set(),
    quick,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    const int = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${arg} takes a whole number >= ${min}\n${USAGE}`);
      return n;
    };
    switch (arg) {
      case '--quick':
        break;
      case '--rounds':
        opts.rounds = int(1);
        break;
      case '--scale-rounds':
        opts.scaleRounds = int(1);
        break;
      case '--scale-services':
        opts.scaleServices = int(2);
        break;
      case '--edits':
        opts.edits = int(1);
        break;
      case '--idle-seconds':
        opts.idleSeconds = int(1);
        break;
      case '--only':
        for (const name of value().split(',')) {
          if (!['cold', 'heal', 'change', 'scale', 'deploy', 'cli'].includes(name)) throw new Error(`--only: unknown benchmark "${name}"\n${USAGE}`);
          opts.only.add(name);
        }
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return opts;
}
