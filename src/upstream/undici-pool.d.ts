// undici's package root loads fetch, WebSocket, caches and mocks (~27 MB of code per process); the
// proxy needs only Pool (~15 MB) and its connector. undici 8 has no "exports" map, so these paths are
// importable; the upstream tests fail at once if a future undici moves them.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}

declare module 'undici/lib/core/connect.js' {
  import { buildConnector } from 'undici';
  export default buildConnector;
}
