// `node --import` this to record every module a process loads: one line per URL, in
// `$PORTICO_MODULE_LOG_DIR/<worker id or "primary">.txt`. The hooks run on their own thread.
import { register } from 'node:module';

register('./hooks.ts', import.meta.url);
