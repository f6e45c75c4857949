/** Issue target: 100 table swaps per second for 60 seconds under load, zero failed or misrouted. */
import { parseArgs } from 'node:util';
import { runSwapUnderLoad } from '../helpers/swap-load.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
  },
});
const result = await runSwapUnderLoad({
  seconds: Number(values.seconds),
  swapsPerSecond: Number(values.rate),
  concurrency: Number(values.concurrency),
});
console.log(JSON.stringify(result, null, 2));
process.exit(result.failed === 0 && result.misrouted === 0 ? 0 : 1);
