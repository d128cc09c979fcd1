// Build dist/esm (ES modules) and dist/cjs (CommonJS) from src/, each with type declarations.
// Each folder gets a package.json naming its module format, so Node and TypeScript read the
// .js and .d.ts files in it as that format whatever the package's own "type" says.
// `--if-stale` (used by `npm test`) does nothing when dist/ is newer than every input, so the
// tests do not compile twice after scripts/install has built the package.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Outside dist/, which is published; a dist/ deleted by hand is rebuilt whatever the stamp says.
const STAMP = join(root, 'node_modules', '.cache', 'wahooks-build');
const OUTPUTS = ['dist/esm/index.js', 'dist/cjs/index.js'].map((path) => join(root, path));
const inputs = ['package.json', 'tsconfig.json', 'tsconfig.cjs.json', 'tools/build.mjs']
  .concat(readdirSync(join(root, 'src')).map((name) => join('src', name)));
if (process.argv.includes('--if-stale') && [STAMP, ...OUTPUTS].every(existsSync)) {
  const built = statSync(STAMP).mtimeMs;
  if (inputs.every((input) => statSync(join(root, input)).mtimeMs < built)) process.exit(0);
}

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
mkdirSync(dirname(STAMP), { recursive: true });
writeFileSync(STAMP, '');
