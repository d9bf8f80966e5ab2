// The sources as JavaScript, for test/run.ts to run the files that need no Kafka without tsx: a test process under tsx
// spends about half a CPU-second more starting (its module hooks: measured 0.9 against 1.2-1.4 CPU-s for a small
// file), which over the 46 files was a quarter of the phase (134 against 101 CPU-s). esbuild is tsx's own transpiler,
// given the same tsconfig.
import esbuild from 'esbuild';
import { mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Writes src/ and test/ as JavaScript (with source maps to the .ts files) to `outDir`, and links there every other file
 * of theirs (fixtures, Java sources), which tests read relative to themselves: test/a.test.ts runs as outDir/test/a.test.js.
 */
export async function transpile(outDir: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  const files = ['src', 'test'].flatMap((d) => readdirSync(d, { recursive: true, encoding: 'utf8' }).map((f) => join(d, f)))
    .filter((f) => statSync(f).isFile());
  await esbuild.build({
    entryPoints: files.filter((f) => f.endsWith('.ts')),
    outdir: outDir, outbase: '.', format: 'esm', platform: 'node', target: 'node20', sourcemap: true, tsconfig: 'tsconfig.json', logLevel: 'warning',
  });
  for (const f of files.filter((f) => !f.endsWith('.ts'))) {
    mkdirSync(dirname(join(outDir, f)), { recursive: true });
    symlinkSync(resolve(f), join(outDir, f));
  }
}
