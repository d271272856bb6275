import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { sha256File } from '../store/digest.js';

/**
 * A Hugging Face model directory's identity for stage keys: config.json and tokenizer files by
 * sha256, weight files by name and size (hashing gigabytes at every plan would be slow), so a
 * model enters a key by content, not by path. `field` names the config key in errors.
 */
export async function modelDirDigest(dir: string, field: string): Promise<string> {
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new BadInputError(`'${dir}' is not a local directory`, { field });
  const parts: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (['config.json', 'tokenizer.json', 'tokenizer_config.json'].includes(name)) parts.push(`${name}:${(await sha256File(join(dir, name))).sha256}`);
    else if (name.endsWith('.safetensors')) parts.push(`${name}:${(await stat(join(dir, name))).size}`);
    else if (name.endsWith('.index.json')) parts.push(`${name}:${(await readFile(join(dir, name), 'utf8')).length}`);
  }
  return parts.join(',');
}
