import { CFN_FUNCTION_KEYS } from './cfn-yaml.js';

/** Something wrong in a template, at a dotted path such as `Resources.Instance.Properties.UserData`. */
export interface TemplateProblem {
  path: string;
  message: string;
}

export const PSEUDO_PARAMETERS: ReadonlySet<string> = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

type Scope = 'conditions' | 'rules' | 'resources' | 'outputs';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const keysOf = (v: unknown): Set<string> => new Set(isRecord(v) ? Object.keys(v) : []);

/** `${Name}` and `${Resource.Attribute}` in a Fn::Sub string; `${!Literal}` is an escape, not a reference. */
export function subReferences(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    const inner = (m[1] ?? '').trim();
    if (!inner.startsWith('!')) out.push(inner);
  }
  return out;
}

/**
 * Checks that every Ref, Fn::GetAtt, Fn::Sub variable, Fn::If / Condition name, Fn::FindInMap map
 * and DependsOn in a parsed template (long form, see cfn-yaml.ts) names something the template or
 * CloudFormation defines, that Conditions and Rules refer to parameters only, and that every
 * parameter is used somewhere. Returns every problem found; an empty list means it resolves.
 */
export function checkReferences(template: unknown): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  if (!isRecord(template)) return [{ path: '', message: 'template is not a mapping' }];
  const parameters = keysOf(template.Parameters);
  const resources = keysOf(template.Resources);
  const conditions = keysOf(template.Conditions);
  const mappings = keysOf(template.Mappings);
  const usedParameters = new Set<string>();
  const report = (path: string, message: string): void => void problems.push({ path, message });

  const checkName = (name: string, path: string, scope: Scope, locals: ReadonlySet<string>, how: string): void => {
    if (locals.has(name) || PSEUDO_PARAMETERS.has(name)) return;
    if (parameters.has(name)) {
      usedParameters.add(name);
      return;
    }
    if (resources.has(name)) {
      if (scope === 'conditions' || scope === 'rules') report(path, `${how} ${name}: ${scope} may only refer to parameters`);
      return;
    }
    report(path, `${how} ${name} is not a parameter, resource or pseudo parameter`);
  };

  const checkCondition = (name: unknown, path: string): void => {
    if (typeof name !== 'string') report(path, 'condition name must be a string');
    else if (!conditions.has(name)) report(path, `condition ${name} is not defined`);
  };

  const walk = (value: unknown, path: string, scope: Scope, locals: ReadonlySet<string> = new Set()): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`, scope, locals));
      return;
    }
    if (!isRecord(value)) return;
    const keys = Object.keys(value);
    const [only] = keys;
    if (keys.length === 1 && only !== undefined && (CFN_FUNCTION_KEYS.has(only) || only.startsWith('Fn::'))) {
      walkIntrinsic(only, value[only], `${path}.${only}`, scope, locals);
      return;
    }
    for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k, scope, locals);
  };

  const walkIntrinsic = (fn: string, arg: unknown, path: string, scope: Scope, locals: ReadonlySet<string>): void => {
    switch (fn) {
      case 'Ref':
        if (typeof arg !== 'string') report(path, 'Ref takes a name');
        else checkName(arg, path, scope, locals, 'Ref');
        return;
      case 'Condition':
        // A one-key mapping whose value is a string is the Condition intrinsic; an IAM statement's
        // Condition block is a mapping and is walked as ordinary data.
        if (typeof arg === 'string') checkCondition(arg, path);
        else walk(arg, path, scope, locals);
        return;
      case 'Fn::GetAtt': {
        const target = typeof arg === 'string' ? arg.split('.')[0] : Array.isArray(arg) ? arg[0] : undefined;
        if (typeof target !== 'string') report(path, 'Fn::GetAtt takes [Resource, Attribute]');
        else if (!resources.has(target)) report(path, `Fn::GetAtt ${target} is not a resource`);
        if (scope === 'conditions' || scope === 'rules') report(path, `Fn::GetAtt is not allowed in ${scope}`);
        if (Array.isArray(arg)) walk(arg.slice(1), path, scope, locals);
        return;
      }
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, undefined];
        if (typeof text !== 'string') {
          report(path, 'Fn::Sub takes a string or [string, {variables}]');
          return;
        }
        const subLocals = new Set([...locals, ...keysOf(vars)]);
        walk(vars, path, scope, locals);
        for (const ref of subReferences(text)) {
          const dot = ref.indexOf('.');
          if (dot > 0 && !subLocals.has(ref)) {
            const target = ref.slice(0, dot);
            if (!resources.has(target)) report(path, `\${${ref}}: ${target} is not a resource`);
          } else {
            checkName(ref, path, scope, subLocals, 'Fn::Sub variable');
          }
        }
        return;
      }
      case 'Fn::If':
        if (!Array.isArray(arg) || arg.length !== 3) report(path, 'Fn::If takes [Condition, ValueIfTrue, ValueIfFalse]');
        else {
          checkCondition(arg[0], `${path}[0]`);
          walk(arg.slice(1), path, scope, locals);
        }
        return;
      case 'Fn::FindInMap':
        if (!Array.isArray(arg) || arg.length < 3) report(path, 'Fn::FindInMap takes [Map, TopKey, SecondKey]');
        else {
          if (typeof arg[0] === 'string' && !mappings.has(arg[0])) report(path, `mapping ${arg[0]} is not defined`);
          walk(arg, path, scope, locals);
        }
        return;
      default:
        if (!CFN_FUNCTION_KEYS.has(fn)) report(path, `unknown intrinsic function ${fn}`);
        walk(arg, path, scope, locals);
    }
  };

  const checkEntries = (section: string, scope: Scope): void => {
    const entries = template[section];
    if (entries === undefined) return;
    if (!isRecord(entries)) {
      report(section, `${section} must be a mapping`);
      return;
    }
    for (const [name, entry] of Object.entries(entries)) {
      const path = `${section}.${name}`;
      if (scope === 'conditions') {
        walk(entry, path, scope);
        continue;
      }
      if (!isRecord(entry)) {
        report(path, 'expected a mapping');
        continue;
      }
      if (scope === 'resources' && typeof entry.Type !== 'string') report(path, 'resource has no Type');
      if ((scope === 'resources' || scope === 'outputs') && entry.Condition !== undefined) checkCondition(entry.Condition, `${path}.Condition`);
      const dependsOn = entry.DependsOn === undefined ? [] : Array.isArray(entry.DependsOn) ? entry.DependsOn : [entry.DependsOn];
      for (const dep of dependsOn) {
        if (typeof dep !== 'string' || !resources.has(dep)) report(`${path}.DependsOn`, `DependsOn ${String(dep)} is not a resource`);
      }
      for (const [k, v] of Object.entries(entry)) {
        if (k !== 'Condition' && k !== 'DependsOn' && k !== 'Type') walk(v, `${path}.${k}`, scope);
      }
    }
  };

  checkEntries('Conditions', 'conditions');
  checkEntries('Rules', 'rules');
  checkEntries('Resources', 'resources');
  checkEntries('Outputs', 'outputs');

  // The console's parameter groups list parameter names as plain strings.
  const iface = isRecord(template.Metadata) ? template.Metadata['AWS::CloudFormation::Interface'] : undefined;
  const groups = isRecord(iface) && Array.isArray(iface.ParameterGroups) ? iface.ParameterGroups : [];
  groups.forEach((g: unknown, i) => {
    const names = isRecord(g) && Array.isArray(g.Parameters) ? g.Parameters : [];
    for (const n of names) {
      if (typeof n !== 'string' || !parameters.has(n)) report(`Metadata.ParameterGroups[${i}]`, `parameter ${String(n)} is not defined`);
    }
  });

  for (const p of parameters) {
    if (!usedParameters.has(p)) report(`Parameters.${p}`, `parameter ${p} is never used`);
  }
  return problems;
}
