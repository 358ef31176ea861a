import type { Resource } from '../../manifests/resource.js';
import type { ExportContext } from './context.js';
import { isLabelValue, isQualifiedName } from './names.js';

/** The label every exported workload selects its pods by. */
export const NAME_LABEL = 'app.kubernetes.io/name';

/**
 * Free-form labels (a manifest's metadata.labels, a Volume's Docker labels) as Kubernetes labels;
 * those Kubernetes would refuse are left out, with a warning.
 */
export function validLabels(ctx: ExportContext, resource: Resource, labels: Readonly<Record<string, string>>, what = 'label'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (isQualifiedName(key) && (what === 'annotation' || isLabelValue(value))) out[key] = value;
    else ctx.warn(resource, `${what} "${key}" is not a valid Kubernetes ${what}${what === 'label' ? ' (key or value)' : ' key'}; left out`);
  }
  return out;
}
