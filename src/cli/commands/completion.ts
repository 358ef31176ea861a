import type { Command, Option } from 'commander';
import { KIND_NAMES } from '../kind-ref.js';

/** Where a command takes a resource key (KIND/NAME): the kinds are offered there. */
const TAKES_KIND = new Set(['status', 'run-now', 'suspend', 'resume']);

interface Node {
  path: string;
  subcommands: string[];
  options: string[];
  /** Values of options with a fixed set (`-o`, `--log-level`). */
  choices: Record<string, string[]>;
}

function nodes(cmd: Command, prefix: string[] = []): Node[] {
  const path = prefix.join(' ');
  const options = cmd.options.flatMap((o: Option) => [o.short, o.long].filter((f): f is string => typeof f === 'string'));
  const choices: Record<string, string[]> = {};
  for (const o of cmd.options) {
    const values = (o as Option & { argChoices?: string[] }).argChoices;
    if (values) for (const flag of [o.short, o.long]) if (flag) choices[flag] = values;
  }
  const own: Node = { path, subcommands: cmd.commands.map((c) => c.name()), options: [...options, '--help'], choices };
  return [own, ...cmd.commands.flatMap((c) => nodes(c, [...prefix, c.name()]))];
}

const quote = (words: readonly string[]): string => `"${words.join(' ')}"`;

/**
 * A bash completion function generated from the commands themselves, so it never falls behind
 * them: commands and subcommands, each command's flags, the values of `-o` and `--log-level`,
 * and the kinds where a KIND/NAME is taken.
 */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const cases = nodes(program)
    .map((n) => {
      const choiceCases = Object.entries(n.choices)
        .map(([flag, values]) => `        ${flag}) COMPREPLY=($(compgen -W ${quote(values)} -- "$cur")); return ;;`)
        .join('\n');
      const positional = n.subcommands.length > 0 ? n.subcommands : TAKES_KIND.has(n.path) ? KIND_NAMES.map((k) => `${k.toLowerCase()}/`) : [];
      return `    ${quote([n.path])})
      case "$prev" in
${choiceCases}
      esac
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${quote(n.options)} -- "$cur")); else COMPREPLY=($(compgen -W ${quote(positional)} -- "$cur")); fi
      [[ \${#COMPREPLY[@]} -eq 1 && "\${COMPREPLY[0]}" == */ ]] && compopt -o nospace 2>/dev/null
      ;;`;
    })
    .join('\n');
  return `# bash completion for ${name}: source <(${name} completion bash), or save it to /etc/bash_completion.d/${name}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" word i
  local known=" ${nodes(program).map((n) => n.path.replace(/ /g, '_')).filter(Boolean).join(' ')} "
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    if [[ "$known" == *" \${path:+\${path}_}$word "* ]]; then path="\${path:+$path }$word"; fi
  done
  COMPREPLY=()
  case "$path" in
${cases}
  esac
}
complete -F ${fn} ${name}
`;
}

/** zsh runs the same function through its bash compatibility layer. */
export function zshCompletion(program: Command): string {
  const name = program.name();
  return `#compdef ${name}
# zsh completion for ${name}: source <(${name} completion zsh), or save it as _${name} in a directory of $fpath
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program).replace(/^# bash completion.*\n/, '').replace(/compopt -o nospace 2>\/dev\/null/, 'true')}`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(certitrack-agent completion bash) (or zsh)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new Error(`completion: "${shell}" is not a supported shell; use bash or zsh`);
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
