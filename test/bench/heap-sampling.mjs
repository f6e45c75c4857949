// Preloaded (--import) into the proxy by test/bench/alloc.ts: SIGUSR2 starts V8's sampling heap
// profiler, counting objects later collected by minor and major GC too (garbage is what this measures);
// a second SIGUSR2 stops it and writes the profile to $HEAP_PROFILE.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  session.post('HeapProfiler.stopSampling', (error, result) => {
    writeFileSync(
      process.env.HEAP_PROFILE,
      JSON.stringify(error ? { error: String(error) } : result.profile),
    );
  });
});
