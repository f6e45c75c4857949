// undici's package root loads fetch, WebSocket, caches and mocks (~27 MB of code per process); the
// proxy needs only Pool (~15 MB). undici 8 has no "exports" map, so this path is importable; the
// upstream tests fail at once if a future undici moves it.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
