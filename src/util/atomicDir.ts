import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';

/**
 * Moves a fully written `scratch` directory to `dir` in one rename. When `dir` already exists it is
 * kept if `isComplete(dir)` (another process got there first) and otherwise moved aside and
 * removed before trying again, so a complete directory is never deleted under a reader.
 */
export async function publishDir(scratch: string, dir: string, isComplete: (dir: string) => Promise<boolean>): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      await rename(scratch, dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!['ENOTEMPTY', 'EEXIST'].includes(code) || tries >= 3) throw err;
      if (await isComplete(dir)) {
        await rm(scratch, { recursive: true, force: true });
        return;
      }
      const stale = `${dir}.stale-${randomBytes(4).toString('hex')}`;
      await rename(dir, stale).catch(() => undefined);
      await rm(stale, { recursive: true, force: true });
    }
  }
}
