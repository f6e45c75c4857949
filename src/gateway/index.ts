export {
  GatewayProxy,
  GatewayCacheService,
  TableHolder,
  type GatewayCtx,
  type GatewayProxyOptions,
  type PurgeRequest,
} from './gateway-proxy.ts';
export { compileGatewayTable, type GatewayTable, type BackendRuntime } from './runtime.ts';
export {
  ConfigStore,
  objectKey,
  type ApplyReport,
  type WorkerAck,
  type SnapshotChannel,
} from './config-store.ts';
export { TableService, type WorkerChannel } from './table-service.ts';
export { explain, type Explanation, type ExplainRequest } from './explain.ts';
export { EMPTY_ROUTE_SET, type RouteSet } from './route-set.ts';
export { registerAdminApi, type AdminApiOptions } from './admin-api.ts';
export {
  EndpointStates,
  EndpointGate,
  BackendLbState,
  HEALTH_TOPIC,
  type HealthMessage,
  type EndpointCondition,
  type EndpointStateOptions,
} from './endpoint-state.ts';
export { HealthMonitor, type CheckedState, type EndpointHealthView } from './health-monitor.ts';
