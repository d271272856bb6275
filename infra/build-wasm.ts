/**
 * Assembles the project's hand-written WebAssembly text (*.wat) into the binaries next to it.
 * The binaries are committed, so running the pipeline needs no assembler; the unit test
 * test/unit/rqvaeSinkhornSweep.test.ts checks each committed binary against its text.
 *   node --import tsx infra/build-wasm.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

/** Every .wat file of the project, with the .wasm it becomes. */
export const WAT_SOURCES = ['src/rqvae/sinkhornSweep.wat'];

const root = fileURLToPath(new URL('..', import.meta.url));

/** The binary of a WebAssembly text module (SIMD and bulk memory enabled). */
export async function assembleWat(name: string, text: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const module = wabt.parseWat(name, text, { simd: true, bulk_memory: true });
  try {
    module.validate();
    return new Uint8Array(module.toBinary({ log: false, write_debug_names: false }).buffer);
  } finally {
    module.destroy();
  }
}

export function wasmPathOf(watPath: string): string {
  return watPath.replace(/\.wat$/, '.wasm');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const wat of WAT_SOURCES) {
    const binary = await assembleWat(wat, readFileSync(root + wat, 'utf8'));
    writeFileSync(root + wasmPathOf(wat), binary);
    console.log(`${wasmPathOf(wat)}: ${binary.length} bytes`);
  }
}
