import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { BadInputError } from '../errors.js';
import { PRESETS, PRESET_NAMES, type ConfigLayer, type PresetName } from './presets.js';
import { PipelineConfigSchema, type PipelineConfig } from './schema.js';

export interface ConfigSources {
  preset?: string;
  /** YAML or JSON files, applied in order over the preset. */
  files?: string[];
  /** `key.path=value` overrides applied last; values are read as YAML scalars (numbers, booleans, null). */
  sets?: string[];
}

/** What the user asked for, layer by layer, before validation: `config show` prints it. */
export interface ConfigLayers {
  preset: PresetName;
  layers: { origin: string; values: ConfigLayer }[];
}

export async function collectLayers(sources: ConfigSources): Promise<ConfigLayers> {
  const preset = (sources.preset ?? 'tiny') as PresetName;
  if (!PRESET_NAMES.includes(preset)) {
    throw new BadInputError(`unknown preset '${sources.preset}'; valid presets: ${PRESET_NAMES.join(', ')}`, {
      field: 'preset',
    });
  }
  const layers: ConfigLayers['layers'] = [];
  for (const file of sources.files ?? []) layers.push({ origin: file, values: await readConfigFile(file) });
  for (const assignment of sources.sets ?? []) {
    layers.push({ origin: `--set ${assignment}`, values: parseAssignment(assignment) });
  }
  return { preset, layers };
}

export async function resolveConfig(sources: ConfigSources): Promise<PipelineConfig> {
  return validateLayers(await collectLayers(sources));
}

export function validateLayers({ preset, layers }: ConfigLayers): PipelineConfig {
  let merged: ConfigLayer = structuredClone(PRESETS[preset]) as ConfigLayer;
  for (const layer of layers) merged = deepMerge(merged, layer.values);
  return validateConfig(merged, `preset ${preset}${layers.map((l) => ` + ${l.origin}`).join('')}`);
}

/** Validates a complete config object; every problem is reported with its key path. */
export function validateConfig(value: unknown, origin = 'config'): PipelineConfig {
  const result = PipelineConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(describeIssue);
  throw new BadInputError(`invalid configuration (${origin}):\n  ${problems.join('\n  ')}`, {
    field: problems.length === 1 ? issueKey(result.error.issues[0]!) : undefined,
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown key`).join('\n  ');
  }
  return `${issueKey(issue) || '(root)'}: ${issue.message}`;
}

function issueKey(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return [...issue.path, ...issue.keys].join('.');
  return issue.path.map(String).join('.');
}

async function readConfigFile(file: string): Promise<ConfigLayer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new BadInputError('cannot read config file', { file });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    // The yaml library's message carries the line and column.
    throw new BadInputError(`not valid YAML/JSON: ${(err as Error).message}`, { file });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BadInputError('a config file must hold a mapping of keys to values', { file });
  }
  return parsed as ConfigLayer;
}

/** `ingest.kCore=10` -> { ingest: { kCore: 10 } }. */
export function parseAssignment(assignment: string): ConfigLayer {
  const eq = assignment.indexOf('=');
  const path = eq > 0 ? assignment.slice(0, eq).trim() : '';
  if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(path)) {
    throw new BadInputError(`--set expects key.path=value, got '${assignment}'`, { field: path || assignment });
  }
  const value = parseValue(assignment.slice(eq + 1));
  const keys = path.split('.');
  const root: ConfigLayer = {};
  let node = root;
  keys.forEach((key, i) => {
    if (i === keys.length - 1) node[key] = value;
    else node = node[key] = {} as ConfigLayer;
  });
  return root;
}

/**
 * Numbers, booleans, null, quoted strings and YAML/JSON lists or maps are parsed; anything else
 * is taken verbatim, so a path like `/data/beauty #2` is not cut at a YAML comment.
 */
function parseValue(raw: string): unknown {
  const text = raw.trim();
  if (!/^(-?[\d.]+(e[-+]?\d+)?|true|false|null|~|".*"|'.*'|\[.*\]|\{.*\})$/is.test(text)) return raw;
  try {
    return parseYaml(text);
  } catch {
    return raw;
  }
}

function deepMerge(base: ConfigLayer, over: ConfigLayer): ConfigLayer {
  const out: ConfigLayer = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is ConfigLayer {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
