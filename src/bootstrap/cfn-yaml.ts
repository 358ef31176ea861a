import { type CollectionTag, Pair, parseDocument, Scalar, type ScalarTag, type Tags, YAMLMap } from 'yaml';

/**
 * CloudFormation's YAML short forms (`!Ref X`, `!Sub "..."`, `!GetAtt A.B`, …) as custom tags for the
 * `yaml` package. Each tag resolves to the long form CloudFormation itself converts it to
 * (`{ Ref: X }`, `{ "Fn::Sub": … }`, `{ "Fn::GetAtt": [A, B] }`), so code that inspects a template
 * only has to understand one shape.
 */

/** Short-form tag name → long-form key. */
const FUNCTIONS: Readonly<Record<string, string>> = {
  Ref: 'Ref',
  Condition: 'Condition',
  Sub: 'Fn::Sub',
  GetAtt: 'Fn::GetAtt',
  Join: 'Fn::Join',
  If: 'Fn::If',
  Equals: 'Fn::Equals',
  Not: 'Fn::Not',
  And: 'Fn::And',
  Or: 'Fn::Or',
  Select: 'Fn::Select',
  Split: 'Fn::Split',
  FindInMap: 'Fn::FindInMap',
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  GetAZs: 'Fn::GetAZs',
  ImportValue: 'Fn::ImportValue',
  // Only valid inside a template's Rules section, but harmless to understand everywhere.
  Contains: 'Fn::Contains',
  EachMemberEquals: 'Fn::EachMemberEquals',
  ValueOf: 'Fn::ValueOf',
};

export const CFN_FUNCTION_KEYS: ReadonlySet<string> = new Set(Object.values(FUNCTIONS));

function wrapCollection(key: string, value: unknown): YAMLMap {
  const map = new YAMLMap();
  map.items.push(new Pair(new Scalar(key), value));
  return map;
}

function scalarTag(name: string, key: string): ScalarTag {
  return {
    tag: `!${name}`,
    // `!GetAtt Resource.Attribute` is the only short form whose scalar needs splitting; the
    // attribute part may itself contain dots (e.g. Endpoint.Address), so split on the first one.
    resolve: (value: string): unknown => {
      if (name !== 'GetAtt') return { [key]: value };
      const dot = value.indexOf('.');
      return { [key]: dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] };
    },
  };
}

function collectionTag(name: string, key: string, collection: 'map' | 'seq'): CollectionTag {
  return { tag: `!${name}`, collection, resolve: (value) => wrapCollection(key, value) };
}

/**
 * Every short form in scalar, sequence and mapping position. CloudFormation rejects some
 * combinations (a `!Ref` of a list); accepting them here keeps parsing simple and leaves the
 * judgement to whoever inspects the result.
 */
export const cfnTags: Tags = Object.entries(FUNCTIONS).flatMap(([name, key]) => [
  scalarTag(name, key),
  collectionTag(name, key, 'seq'),
  collectionTag(name, key, 'map'),
]);

/**
 * Parses a CloudFormation YAML template into plain data with every intrinsic in long form.
 * Throws on any YAML error or warning, including an unknown `!Tag`, naming the line.
 */
export function parseCfnTemplate(text: string): unknown {
  const doc = parseDocument(text, { customTags: cfnTags, uniqueKeys: true, prettyErrors: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new Error(`invalid CloudFormation YAML: ${problems.map((p) => p.message).join('; ')}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}
