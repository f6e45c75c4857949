/**
 * `npm start`: an echo origin on 127.0.0.1:9001 and `portico serve -f examples/config` on 127.0.0.1:8080,
 * as two processes; Ctrl-C stops both. Then: curl -H 'Host: localhost' http://127.0.0.1:8080/hello
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const children: ChildProcess[] = [
  spawn(process.execPath, [here('./echo-origin.ts'), '127.0.0.1:9001'], { stdio: 'inherit' }),
  spawn(
    process.execPath,
    [
      here('../src/cli/main.ts'),
      'serve',
      '-f',
      here('./config'),
      '--listen',
      '127.0.0.1:8080',
      '--admin',
      '127.0.0.1:9901',
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  ),
];
const stop = (signal: NodeJS.Signals): void => {
  for (const child of children) child.kill(signal);
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
for (const child of children)
  child.on('exit', (code) => {
    stop('SIGTERM');
    process.exitCode = code ?? 0;
  });
console.error("portico quickstart: try  curl -H 'Host: localhost' http://127.0.0.1:8080/hello");
