// Build dist/esm (ES modules) and dist/cjs (CommonJS) from src/, each with type declarations.
// Each folder gets a package.json naming its module format, so Node and TypeScript read the
// .js and .d.ts files in it as that format whatever the package's own "type" says.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const [project, folder, type] of [
  ['tsconfig.json', 'esm', 'module'],
  ['tsconfig.cjs.json', 'cjs', 'commonjs'],
]) {
  const run = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
  mkdirSync(join(root, 'dist', folder), { recursive: true });
  writeFileSync(join(root, 'dist', folder, 'package.json'), JSON.stringify({ type }) + '\n');
}
