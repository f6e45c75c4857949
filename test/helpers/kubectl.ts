/**
 * `kubectl` arguments that wait until Portico's CRDs are Established. A JSONPath wait, not
 * `--for=condition=Established`: a condition wait fails at once ("status.conditions accessor error")
 * when it reads a CRD the API server has not given conditions yet — kubernetes/kubernetes#66439, seen
 * here right after `kubectl apply` — where a JSONPath wait goes on waiting for the field.
 */
export const WAIT_FOR_CRDS_ESTABLISHED: readonly string[] = [
  'wait',
  '--for=jsonpath={.status.conditions[?(@.type=="Established")].status}=True',
  '--timeout=30s',
  'crd/routes.portico.dev',
  'crd/backends.portico.dev',
];
