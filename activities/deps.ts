import type { ArtifactStore } from '../src/store/artifactStore.js';

/** What every activity needs from the worker that hosts it. */
export interface ActivityDeps {
  store: ArtifactStore;
  /** The data directory: generated samples, caches. */
  home: string;
}
