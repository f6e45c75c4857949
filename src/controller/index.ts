/**
 * Kubernetes: reflectors → cache → debounced rebuild → ConfigStore; status conditions, Events and
 * Lease-based leader election. See docs/controller.md.
 */
export { KubernetesController, type ControllerOptions, type SnapshotStore } from './controller.ts';
export { kubeClients, type KubeClients, type KubeObject } from './kube.ts';
export { LeaderElector, type LeaderElectionOptions } from './leader.ts';
export { desiredStatuses, type DesiredCondition, type DesiredStatus } from './conditions.ts';
export { Reflector, type ReflectorOptions, type ReflectorHandler } from './reflector.ts';
export { ControllerCache } from './cache.ts';
