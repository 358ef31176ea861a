import type { TemplateProblem } from './cfn-references.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export interface PolicyStatement {
  /** Where the statement sits, e.g. `Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement[2]`. */
  path: string;
  statement: Record<string, unknown>;
}

export interface IamPolicyRules {
  /**
   * Actions AWS only authorizes against `Resource: "*"` (no resource-level permissions), each with
   * the reason it is needed. A statement may use `*` only if all its actions are listed here.
   */
  starResourceActions: Readonly<Record<string, string>>;
  /** Names of AWS managed policies a role may attach (the part after `policy/`). */
  managedPolicies: readonly string[];
}

const POLICY_KEYS = new Set(['PolicyDocument', 'AssumeRolePolicyDocument']);

/**
 * Every statement of every policy document in the template's resources (role inline policies,
 * AWS::IAM::Policy, bucket and topic policies …). Both branches of an Fn::If are returned, since
 * either may be deployed.
 */
export function findPolicyStatements(template: unknown): PolicyStatement[] {
  const out: PolicyStatement[] = [];
  const addStatements = (statements: unknown, path: string): void => {
    asList(statements).forEach((s, i) => {
      const at = Array.isArray(statements) ? `${path}[${i}]` : path;
      if (isRecord(s) && Array.isArray(s['Fn::If'])) {
        addStatements(s['Fn::If'].slice(1), `${at}.Fn::If`);
      } else if (isRecord(s) && s.Ref === 'AWS::NoValue') {
        // An omitted statement.
      } else if (isRecord(s)) {
        out.push({ path: at, statement: s });
      }
    });
  };
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (isRecord(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (POLICY_KEYS.has(k) && isRecord(v)) addStatements(v.Statement, `${path}.${k}.Statement`);
        else walk(v, `${path}.${k}`);
      }
    }
  };
  walk(isRecord(template) ? template.Resources : undefined, 'Resources');
  return out;
}

/**
 * Least-privilege checks on the Allow statements (Deny statements only ever take away, so a
 * wildcard there is fine): no `NotAction`/`NotResource`, no action containing `*`, no
 * `Resource: "*"` unless every action is in the allow-list, no `Principal: "*"`, and no managed
 * policy outside the allowed set.
 */
export function checkIamPolicies(template: unknown, rules: IamPolicyRules): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const allowed = new Map(Object.keys(rules.starResourceActions).map((a) => [a.toLowerCase(), a]));

  for (const { path, statement } of findPolicyStatements(template)) {
    if (statement.Effect !== 'Allow') continue;
    if (statement.NotAction !== undefined) problems.push({ path, message: 'Allow with NotAction grants everything else' });
    if (statement.NotResource !== undefined) problems.push({ path, message: 'Allow with NotResource grants everything else' });
    const actions = asList(statement.Action);
    if (actions.length === 0 && statement.NotAction === undefined) problems.push({ path, message: 'statement has no Action' });
    for (const a of actions) {
      if (typeof a !== 'string') problems.push({ path, message: 'Action must be a literal string' });
      else if (a.includes('*')) problems.push({ path, message: `wildcard action ${a}` });
    }
    const principal = statement.Principal;
    if (principal === '*' || (isRecord(principal) && asList(principal.AWS).includes('*'))) {
      problems.push({ path, message: 'Allow to Principal "*"' });
    }
    if (asList(statement.Resource).includes('*')) {
      const unlisted = actions.filter((a) => typeof a !== 'string' || !allowed.has(a.toLowerCase()));
      if (unlisted.length > 0) problems.push({ path, message: `Resource "*" for ${unlisted.join(', ')}, which are not on the allow-list` });
    }
  }

  const resources = isRecord(template) && isRecord(template.Resources) ? template.Resources : {};
  for (const [name, res] of Object.entries(resources)) {
    const props = isRecord(res) && isRecord(res.Properties) ? res.Properties : {};
    asList(props.ManagedPolicyArns).forEach((arn, i) => {
      const text = typeof arn === 'string' ? arn : isRecord(arn) && typeof arn['Fn::Sub'] === 'string' ? arn['Fn::Sub'] : undefined;
      const policy = text?.match(/:iam::aws:policy\/(.+)$/)?.[1];
      if (policy === undefined || !rules.managedPolicies.includes(policy)) {
        problems.push({ path: `Resources.${name}.Properties.ManagedPolicyArns[${i}]`, message: `managed policy ${text ?? '(computed)'} is not allowed` });
      }
    });
  }
  return problems;
}
