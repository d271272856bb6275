/**
 * Where stage outputs live. A stage writes its files into an attempt-scoped workspace and publishes
 * them by writing the key's manifest last; a key without a manifest does not exist. Of two attempts
 * racing to publish one key, exactly one wins; the loser's files are orphans, swept later.
 */
export interface ArtifactFile {
  name: string;
  sha256: string;
  bytes: number;
}

export interface ArtifactManifest {
  schema: 'lcrec.artifact/1';
  stage: string;
  key: string;
  attempt: string;
  createdAt: string;
  /** Files, relative to the attempt's location. */
  files: ArtifactFile[];
  /** Small JSON the stage reports (counts, metrics), shown by `lcrec status`. */
  summary: Record<string, unknown>;
  /** What the key was computed from, for people auditing a result. */
  keyInputs: unknown;
}

export interface Attempt {
  stage: string;
  key: string;
  attempt: string;
  /** Local directory the stage writes its files into. */
  dir: string;
}

export interface RunManifest {
  schema: 'lcrec.run/1';
  workflowId: string;
  runId: string;
  [field: string]: unknown;
}

/** An attempt's files that no manifest points at: a failed attempt, or the loser of a race. */
export interface OrphanAttempt {
  stage: string;
  key: string;
  attempt: string;
  files: number;
  bytes: number;
  /** When its newest file was written. */
  lastModified: string;
}

export interface SweepReport {
  orphans: OrphanAttempt[];
  /** Unfinished multipart uploads (S3 only) older than the threshold. */
  incompleteUploads: number;
  /** False for a dry run: nothing was removed. */
  removed: boolean;
}

export interface ArtifactStore {
  /** A human-readable location, e.g. a directory or an s3:// prefix. Never holds a credential. */
  readonly location: string;
  /** Fails with one clear error when the store cannot be read and written (e.g. bad S3 credentials). */
  check(): Promise<void>;
  getManifest(stage: string, key: string): Promise<ArtifactManifest | undefined>;
  /** A fresh workspace for one attempt at producing `key`. */
  beginAttempt(stage: string, key: string, attempt: string): Promise<Attempt>;
  /**
   * Hashes the attempt's files and writes the manifest unless one exists. Returns the manifest
   * that is now published: this attempt's, or the earlier winner's (then `published` is false).
   * With `replace` (a forced rerun) this attempt's manifest takes the key's place; the files of
   * the attempt it replaces become orphans for `sweep`.
   */
  publish(
    attempt: Attempt,
    meta: { summary: Record<string, unknown>; keyInputs: unknown },
    opts?: { replace?: boolean },
  ): Promise<{ manifest: ArtifactManifest; published: boolean }>;
  /** Drops an attempt's workspace after a failure. */
  abandon(attempt: Attempt): Promise<void>;
  /**
   * Removes a published key: the manifest first (so the key stops existing at once), then every
   * attempt's files. For superseded training checkpoints; stage outputs are never deleted.
   */
  deleteKey(stage: string, key: string): Promise<void>;
  /** A local directory holding the manifest's files, verified (sizes; sha256 when downloaded). */
  localDir(manifest: ArtifactManifest): Promise<string>;
  putRunManifest(manifest: RunManifest): Promise<void>;
  getRunManifest(workflowId: string): Promise<RunManifest | undefined>;
  listRunManifests(): Promise<RunManifest[]>;
  /**
   * Finds attempt prefixes that their key's manifest does not reference and whose newest file is
   * older than `olderThanMs`, and removes them unless `dryRun`.
   */
  sweep(opts: { olderThanMs: number; dryRun?: boolean }): Promise<SweepReport>;
}
