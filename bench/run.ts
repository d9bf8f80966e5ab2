// `npm run bench -- NAME`: runs bench/NAME.bench.ts. Progress goes to stderr; the last line on stdout is one JSON
// object with the figures the bench names.
import { readdirSync } from 'node:fs';

const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [args]\nbenches: ${available.join(', ')}`);
  process.exit(2);
}
const bench = (await import(`./${name}.bench.ts`)) as { run: (args: string[]) => Promise<Record<string, unknown>> };
const started = Date.now();
const figures = await bench.run(process.argv.slice(3));
console.error(`bench ${name} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(JSON.stringify(figures));
process.exit(0);
