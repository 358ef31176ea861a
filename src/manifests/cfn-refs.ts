/**
 * CloudFormation stack outputs in manifests: `${cfn:OutputName}` anywhere inside a string value is
 * replaced by that output of the bootstrap stack, at load time, before schema validation (so an
 * ARN field validates the resolved ARN). `$${cfn:` writes a literal `${cfn:`. Keys are never
 * substituted. A document with no reference never needs AWS.
 */

export type CfnPath = (string | number)[];

export interface CfnRefProblem {
  path: CfnPath;
  message: string;
  /** malformed: not `${cfn:OutputName}`; unavailable: no outputs to resolve from; unknown: no such output. */
  code: 'malformed' | 'unavailable' | 'unknown';
}

export interface CfnRefResult {
  value: unknown;
  problems: CfnRefProblem[];
}

const REF = /(\$?)\$\{cfn:([^}]*)\}/g;
/** CloudFormation output keys are logical IDs: alphanumeric, at most 255 characters. */
const OUTPUT_NAME = /^[A-Za-z0-9]{1,255}$/;

/**
 * Resolves every reference in a document's plain JS value (as parsed from YAML). Returns a new value
 * (the input is not modified) and every problem with its field path; unresolved references are left
 * as written so later messages still show them.
 *
 * @param outputs the stack's outputs, or undefined when they could not be had
 * @param unavailableReason why `outputs` is undefined, for the messages
 */
export function resolveCfnRefs(value: unknown, outputs: Record<string, string> | undefined, unavailableReason?: string): CfnRefResult {
  const problems: CfnRefProblem[] = [];
  const walk = (v: unknown, path: CfnPath): unknown => {
    if (typeof v === 'string') return v.includes('${cfn:') ? substitute(v, path) : v;
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    return v;
  };
  const substitute = (text: string, path: CfnPath): string =>
    text.replace(REF, (whole, escape: string, name: string) => {
      if (escape) return whole.slice(1);
      if (!OUTPUT_NAME.test(name)) {
        problems.push({ path, code: 'malformed', message: `malformed CloudFormation reference ${whole}: expected \${cfn:OutputName} with an alphanumeric output name` });
        return whole;
      }
      if (outputs === undefined) {
        problems.push({ path, code: 'unavailable', message: `cannot resolve \${cfn:${name}}: stack outputs unavailable (${unavailableReason ?? 'unknown reason'})` });
        return whole;
      }
      const resolved = outputs[name];
      if (resolved === undefined) {
        const known = Object.keys(outputs).sort();
        problems.push({ path, code: 'unknown', message: `unknown CloudFormation output "${name}" (stack outputs: ${known.length ? known.join(', ') : 'none'})` });
        return whole;
      }
      return resolved;
    });
  return { value: walk(value, []), problems };
}

/**
 * For `validate --offline` without outputs: a value for every output a document references, shaped
 * like a name (`cfn-alerttopicarn`: lower case, digits and dashes), so a field that must hold an S3
 * bucket name or the like can still be checked around the reference.
 */
export function cfnStandIns(value: unknown): Record<string, string> {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(REF)) if (!m[1] && m[2] && OUTPUT_NAME.test(m[2])) names.add(m[2]);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return Object.fromEntries([...names].map((n) => [n, `cfn-${n.toLowerCase()}`]));
}

/** Whether a document mentions any reference: lets the loader skip fetching outputs when none does. */
export function hasCfnRefs(value: unknown): boolean {
  if (typeof value === 'string') return /(^|[^$])\$\{cfn:/.test(value);
  if (Array.isArray(value)) return value.some(hasCfnRefs);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasCfnRefs);
  return false;
}
