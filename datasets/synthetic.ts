/**
 * Deterministic synthetic Amazon-2014 dataset (reviews_<Cat>_5.json.gz + meta_<Cat>.json.gz).
 *
 * Nothing is committed: the sample is generated from a seed. The files follow the raw 2014 format
 * (spec A.2): reviews are JSON lines, metadata lines are Python dict literals. The content has the
 * structure a sequential recommender can learn from:
 *   - a taxonomy of 6 subcategories, 15 brands tied to 1-2 subcategories each, product lines whose
 *     product types follow a routine (cleanser -> toner -> serum -> moisturizer, base coat -> polish
 *     -> top coat -> remover, ...);
 *   - every reviewable item has one fixed "successor" (the next step of its line's routine, or the
 *     start of another line of the same subcategory); a user's next item is that successor with
 *     probability FOLLOW_PROB, otherwise drawn from the user's taste (1-2 preferred subcategories,
 *     brand loyalty, Zipf-like popularity inside a subcategory);
 *   - day-granular timestamps with same-day ties, and the usual quirks (missing title/brand/
 *     description/price, HTML entities and tags, quotes that force escapes in Python repr,
 *     metadata for unreviewed items, reviewed items without metadata, a few repeated reviews).
 *
 * Determinism: the catalog depends only on (seed, items, category); user i depends only on
 * (seed, i) and the catalog, so `--users` can grow without changing the first users. The gzip
 * stream uses a fixed level and Node's zlib header (mtime 0), so the same options give the same
 * bytes on the same Node/zlib build.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip } from 'node:zlib';
import { fmix32 } from '../src/tensor/rng.js';

export interface SyntheticOptions {
  seed: number;
  users: number;
  items: number;
  category: string; // e.g. 'Beauty'; used in file names, the top category level and salesRank
}

export const SAMPLE_PRESET: SyntheticOptions = {
  seed: 20240101,
  users: 600,
  items: 300,
  category: 'Beauty',
};

export interface SyntheticResult {
  reviewsFile: string;
  metaFile: string;
  reviews: number;
  metaRecords: number;
  /** distinct reviewers in the reviews file */
  users: number;
  /** distinct asins in the reviews file */
  reviewedItems: number;
}

/** Probability that the next item is the previous item's successor (when not yet reviewed). */
const FOLLOW_PROB = 0.55;
const ZIPF_EXPONENT = 0.8;
const DAY_S = 86_400;
const FIRST_DAY = Date.UTC(2010, 0, 1) / 86_400_000;
const LAST_START_DAY = Date.UTC(2013, 8, 1) / 86_400_000;
const LAST_DAY = Date.UTC(2014, 6, 23) / 86_400_000; // the 2014 crawl ends in July 2014

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (sfc32; seeds derived from an FNV-1a + murmur-finalizer hash of seed and tags)

function hashSeed(...parts: Array<number | string>): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = `${String(part)}\u0000`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  return fmix32(h >>> 0);
}

class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** sfc32, state filled from the seed through splitmix32 and warmed up */
  constructor(seed: number) {
    let z = seed >>> 0;
    const split = (): number => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z ^ (z >>> 16);
      t = Math.imul(t, 0x21f0aaad);
      t ^= t >>> 15;
      t = Math.imul(t, 0x735a2d97);
      return (t ^ (t >>> 15)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }
  /** uniform in [0, 1) */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(arr: readonly T[]): T {
    return at(arr, Math.floor(this.next() * arr.length));
  }
  /** index drawn proportionally to weights */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= at(weights, i);
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = at(arr, i);
      arr[i] = at(arr, j);
      arr[j] = tmp;
    }
    return arr;
  }
  /** geometric-ish count with the given mean (>= 0) */
  expInt(mean: number): number {
    return Math.floor(-Math.log(1 - this.next()) * mean);
  }
}

function at<T>(arr: readonly T[], i: number): T {
  const v = arr[i];
  if (v === undefined) throw new RangeError(`index ${i} out of range (length ${arr.length})`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Taxonomy and vocabulary

interface ProductType {
  name: string;
  leaf: string; // last category level
  sizes: readonly string[];
  price: readonly [number, number];
  /** how many variants (shades) a line carries of this type; default 1 */
  variants?: readonly [number, number];
}

interface Subcategory {
  key: string;
  path: readonly string[]; // category levels below the top category
  weight: number; // share of the catalog
  routine: readonly ProductType[]; // the order in which a line's products are used
  lineNames: readonly string[];
  attributes: readonly string[]; // review vocabulary
  extraPath?: readonly string[]; // a second category path some items also carry
}

const SHADES = [
  'Simmer and Shimmer', 'Big Apple Red', 'Bubble Bath', 'Lincoln Park After Dark', 'Malaga Wine',
  'Cajun Shrimp', 'Funny Bunny', 'Mod About You', 'Ballet Slippers', 'Berry Naughty', 'Coral Reef',
  'Midnight Navy', "Mermaid's Tears", 'Nude Beach', 'Cherry Bomb', 'Lilac Haze', 'Golden Hour',
  'Sea Glass', 'Rose Quartz', 'Plum Crazy',
] as const;

const SUBCATEGORIES: readonly Subcategory[] = [
  {
    key: 'nails',
    path: ['Makeup', 'Nails'],
    weight: 0.22,
    routine: [
      { name: 'Base Coat', leaf: 'Base & Top Coats', sizes: ['0.5 Fluid Ounce'], price: [6, 12] },
      {
        name: 'Nail Lacquer', leaf: 'Nail Polish', sizes: ['0.5 Fluid Ounce', '0.45 Fluid Ounce'],
        price: [5, 11], variants: [2, 4],
      },
      { name: 'Top Coat', leaf: 'Base & Top Coats', sizes: ['0.5 Fluid Ounce'], price: [6, 12] },
      { name: 'Nail Polish Remover', leaf: 'Nail Polish Removers', sizes: ['4 Fluid Ounce', '8 Fluid Ounce'], price: [3, 9] },
    ],
    lineNames: ['Infinite Shine', 'Gel Effect', 'Classic', 'Chip Guard', 'Salon Pro', 'Quick Dry', 'Studio Color', 'Long Wear'],
    attributes: ['color', 'finish', 'shine', 'wear time', 'brush'],
  },
  {
    key: 'skin',
    path: ['Skin Care', 'Face'],
    weight: 0.22,
    routine: [
      { name: 'Gel Cleanser', leaf: 'Cleansers', sizes: ['6 Ounce', '8 Fluid Ounce'], price: [7, 24] },
      { name: 'Toner', leaf: 'Toners & Astringents', sizes: ['6.7 Fluid Ounce', '8 Fluid Ounce'], price: [8, 22] },
      { name: 'Serum', leaf: 'Serums', sizes: ['1 Fluid Ounce', '1.7 Fluid Ounce'], price: [15, 48] },
      { name: 'Moisturizer', leaf: 'Creams & Moisturizers', sizes: ['1.7 Ounce', '2.5 Fluid Ounce'], price: [12, 42] },
      { name: 'Eye Cream', leaf: 'Eye Treatments', sizes: ['0.5 Ounce', '0.5 Fluid Ounce'], price: [14, 45] },
    ],
    lineNames: ['Hydra Boost', 'Clear Skin', 'Age Defy', 'Pure Radiance', 'Calm Derm', 'Vitamin C Glow', 'Daily Balance', 'Deep Pore'],
    attributes: ['texture', 'scent', 'absorption', 'consistency', 'packaging'],
    extraPath: ['Skin Care', 'Face', 'Treatments & Masks'],
  },
  {
    key: 'hair',
    path: ['Hair Care'],
    weight: 0.18,
    routine: [
      { name: 'Shampoo', leaf: 'Shampoos', sizes: ['12 Fluid Ounce', '13.5 Fluid Ounce'], price: [5, 26] },
      { name: 'Conditioner', leaf: 'Conditioners', sizes: ['12 Fluid Ounce', '13.5 Fluid Ounce'], price: [5, 26] },
      { name: 'Hair Mask', leaf: 'Treatments', sizes: ['8 Ounce', '5.1 Ounce'], price: [9, 32] },
      { name: 'Styling Cream', leaf: 'Styling Products', sizes: ['4 Ounce', '5 Fluid Ounce'], price: [8, 24] },
    ],
    lineNames: ['Moisture Repair', 'Volume Lift', 'Color Protect', 'Smooth & Sleek', 'Curl Define', 'Argan Oil', 'Scalp Care'],
    attributes: ['scent', 'lather', 'shine', 'softness', 'bottle'],
  },
  {
    key: 'fragrance',
    path: ['Fragrance', "Women's"],
    weight: 0.12,
    routine: [
      { name: 'Eau de Parfum Spray', leaf: 'Eau de Parfum', sizes: ['1.7 Fluid Ounce', '3.4 Fluid Ounce'], price: [25, 95] },
      { name: 'Perfumed Body Lotion', leaf: 'Body Lotions', sizes: ['6.7 Fluid Ounce', '200 ml'], price: [15, 45] },
      { name: 'Body Mist', leaf: 'Body Sprays', sizes: ['8 Fluid Ounce', '4 Fluid Ounce'], price: [10, 28] },
      { name: 'Rollerball', leaf: 'Eau de Parfum', sizes: ['0.33 Fluid Ounce', '0.25 Fluid Ounce'], price: [12, 30] },
    ],
    lineNames: ['Midnight Orchid', 'Amber Dusk', 'Citrus Bloom', 'White Tea', 'Velvet Rose', 'Sea Salt & Driftwood', 'Fig Leaf'],
    attributes: ['scent', 'longevity', 'bottle', 'sillage'],
  },
  {
    key: 'bath',
    path: ['Bath & Body'],
    weight: 0.14,
    routine: [
      { name: 'Shower Gel', leaf: 'Body Washes', sizes: ['10 Fluid Ounce', '16 Fluid Ounce'], price: [5, 18] },
      { name: 'Body Scrub', leaf: 'Scrubs & Body Treatments', sizes: ['8 Ounce', '10 Ounce'], price: [8, 24] },
      { name: 'Body Lotion', leaf: 'Lotions', sizes: ['8 Fluid Ounce', '16 Fluid Ounce'], price: [6, 20] },
      { name: 'Hand Cream', leaf: 'Hand Creams', sizes: ['1 Ounce', '3 Ounce'], price: [5, 16] },
    ],
    lineNames: ['Lavender Vanilla', 'Coconut Lime', 'Shea Butter', 'Eucalyptus Mint', 'Warm Cashmere', 'Honey & Oat', 'Pink Grapefruit'],
    attributes: ['scent', 'lather', 'texture', 'moisture'],
  },
  {
    key: 'tools',
    path: ['Tools & Accessories'],
    weight: 0.12,
    routine: [
      { name: 'Makeup Brush Set', leaf: 'Makeup Brushes & Tools', sizes: ['12 Piece', '7 Piece'], price: [10, 45] },
      { name: 'Brush Cleanser', leaf: 'Makeup Brushes & Tools', sizes: ['5 Fluid Ounce', '3.4 Fluid Ounce'], price: [6, 18] },
      { name: 'Makeup Sponge', leaf: 'Sponges & Applicators', sizes: ['2 Count', '4 Count'], price: [4, 20] },
      { name: 'Eyelash Curler', leaf: 'Eyelash Tools', sizes: ['1 Count'], price: [6, 22] },
      { name: 'Slant Tweezer', leaf: 'Tweezers', sizes: ['1 Count'], price: [5, 24] },
    ],
    lineNames: ['Pro', 'Essentials', 'Travel', 'Studio', 'Precision', 'Signature'],
    attributes: ['grip', 'build quality', 'size', 'bristles'],
    extraPath: ['Makeup', 'Makeup Brushes & Tools'],
  },
];

/** brand -> the subcategories it sells in (1-2 each; every subcategory gets >= 3 brands) */
const BRANDS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Lacquerie', ['nails']],
  ['Polished Petal', ['nails', 'tools']],
  ["Maren's", ['nails', 'skin']],
  ['Hollis & Hart', ['tools', 'nails']],
  ['Aurora Lane', ['skin', 'fragrance']],
  ['Dermaquell', ['skin']],
  ['Fernwood Botanics', ['skin', 'bath']],
  ['Tidewater', ['hair']],
  ['Salon Nine', ['hair', 'tools']],
  ['Kiro', ['hair']],
  ['Belle Amie', ['fragrance']],
  ['Sable & Sage', ['fragrance', 'bath']],
  ['Velvet & Vine', ['bath']],
  ['Coastline Co.', ['bath', 'hair']],
  ['Zenith Pro', ['tools']],
];

const DESCRIPTION_OPENERS = [
  'Our {line} {type} is formulated for everyday use.',
  'The {brand} {line} collection brings salon results home.',
  'Discover the {line} {type}, a customer favorite.',
  'Meet the {type} that started the {line} routine.',
  'Made without parabens, sulfates & phthalates.',
];
const DESCRIPTION_MIDDLES = [
  'Lightweight formula with a {attr} you will notice from the first use.',
  'Dermatologist tested and cruelty free.',
  "Pair it with the {line} {next} for best results.",
  'Enriched with vitamin E and botanical extracts.',
  'Each {size} bottle lasts for weeks of daily use.',
  'Designed to work with every step of your routine.',
];
const DESCRIPTION_CLOSERS = [
  'Made in the USA.',
  "It's the finishing touch your routine deserves.",
  'Satisfaction guaranteed.',
  'Imported.',
];

/** by star rating */
const SUMMARIES: Record<1 | 2 | 3 | 4 | 5, readonly string[]> = {
  5: ['Love it!', 'Holy grail {type}', 'Five Stars', 'Best {type} I have tried', 'Will buy again', 'Great {type}'],
  4: ['Very nice', 'Pretty good {type}', 'Works well', 'Four Stars', 'Good value'],
  3: ["It's okay", 'Average', 'Nothing special', 'Three Stars', 'Mixed feelings'],
  2: ['Not for me', 'Disappointed', 'Meh', 'Two Stars'],
  1: ['Did not work for me', 'Waste of money', 'Terrible', 'One Star'],
};
const OPENERS: Record<1 | 2 | 3 | 4 | 5, readonly string[]> = {
  5: ['I absolutely love this {type}.', 'This {type} from {brand} is amazing.', "Been using it for {n} weeks and it's wonderful."],
  4: ['Really nice {type}.', 'I like this {type} a lot.', 'Good {type} for the price.'],
  3: ['This {type} is okay.', 'Not bad, not great.', 'It does the job.'],
  2: ['I expected more from {brand}.', 'This {type} did not impress me.', 'Not sure about this one.'],
  1: ['Unfortunately this {type} did not work for me.', 'I returned this.', 'Very disappointed with this {type}.'],
};
const DETAILS = [
  'The {attr} is {adj}.',
  'It pairs well with the {next}.',
  'Arrived quickly and well packaged.',
  'A little goes a long way.',
  'I bought it after the {prev}.',
  'The {attr} could be better.',
];
const ADJECTIVES = ['great', 'lovely', 'just right', 'nice', 'okay', 'better than expected'];
const CLOSERS = ['Highly recommend.', 'Would buy again.', 'Will repurchase.', '', '', 'Thanks!'];

const FIRST_NAMES = [
  'Jennifer', 'Amy', 'Sarah', 'Lisa', 'Karen', 'Michelle', 'Emily', 'Jessica', 'Laura', 'Rachel', 'Megan',
  'Nicole', 'Angela', 'Maria', 'Linda', 'Susan', 'Kim', 'Tina', 'John', 'David', 'Mike', 'Chris', 'Dana',
];
const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Garcia', 'Wilson', 'Taylor',
  'Anderson', 'Thomas', 'Moore', 'Martin', 'Lee', 'Clark', 'Lewis', 'Walker', 'Hall', 'Young', 'McDonald',
];

// ---------------------------------------------------------------------------------------------
// Catalog

interface Item {
  index: number;
  asin: string;
  sub: Subcategory;
  subIndex: number;
  brand: string;
  line: string;
  type: ProductType;
  routineStep: number;
  variant: string | undefined;
  size: string;
  /** items[successor]; -1 until assigned */
  successor: number;
  /** metadata-only: nobody reviews it */
  unreviewed: boolean;
  /** reviewed but without a metadata record */
  noMeta: boolean;
  popularity: number;
}

interface Catalog {
  items: Item[];
  /** per subcategory: reviewable item indices and cumulative popularity */
  pools: Array<{ items: number[]; cumulative: number[] }>;
  /** per subcategory: brand -> reviewable item indices */
  brandPools: Array<Map<string, number[]>>;
  brandWeight: Map<string, number>;
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? '');
}

function largestRemainder(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const raw = weights.map((w) => (total * w) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    out[i] = at(out, i) + 1;
  }
  return out;
}

function randomAsin(rng: Rng): string {
  const alnum = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  if (rng.chance(0.04)) {
    // older items carry ISBN-like numeric asins
    let s = '';
    for (let i = 0; i < 10; i++) s += String(rng.int(0, 9));
    return s;
  }
  let s = 'B00';
  for (let i = 0; i < 7; i++) s += alnum[rng.int(0, alnum.length - 1)];
  return s;
}

function buildCatalog(opts: SyntheticOptions): Catalog {
  const rng = new Rng(hashSeed(opts.seed, 'catalog', opts.items, opts.category));
  const brandWeight = new Map<string, number>();
  for (const [brand] of BRANDS) brandWeight.set(brand, 0.5 + rng.next() * 1.5);

  type Line = Item[];
  const lines: Line[] = [];
  const linesBySub: Line[][] = SUBCATEGORIES.map(() => []);
  const budgets = largestRemainder(opts.items, SUBCATEGORIES.map((s) => s.weight));

  const makeItem = (subIndex: number, brand: string, line: string, step: number, variant?: string): Item => {
    const sub = at(SUBCATEGORIES, subIndex);
    const type = at(sub.routine, step);
    return {
      index: -1, asin: '', sub, subIndex, brand, line, type, routineStep: step, variant,
      size: rng.pick(type.sizes), successor: -1, unreviewed: false, noMeta: false, popularity: 0,
    };
  };
  const brandsOf = (subKey: string) => BRANDS.filter(([, subs]) => subs.includes(subKey)).map(([b]) => b);

  SUBCATEGORIES.forEach((sub, subIndex) => {
    const brands = brandsOf(sub.key);
    const used = new Set<string>();
    let budget = at(budgets, subIndex);
    while (budget > 0) {
      const brand = at(brands, rng.weighted(brands.map((b) => brandWeight.get(b) ?? 1)));
      let lineName = rng.pick(sub.lineNames);
      for (let tries = 0; used.has(`${brand}|${lineName}`) && tries < 20; tries++) lineName = rng.pick(sub.lineNames);
      used.add(`${brand}|${lineName}`);
      const line: Line = [];
      sub.routine.forEach((type, step) => {
        const [lo, hi] = type.variants ?? [1, 1];
        const n = rng.int(lo, hi);
        const shades = rng.shuffle([...SHADES]);
        for (let v = 0; v < n && budget > 0; v++, budget--) {
          line.push(makeItem(subIndex, brand, lineName, step, hi > 1 ? at(shades, v) : undefined));
        }
      });
      lines.push(line);
      at(linesBySub, subIndex).push(line);
    }
  });

  // metadata-only items: single products nobody reviews (about 2% of the catalog)
  const extra = Math.max(2, Math.round(opts.items * 0.02));
  for (let e = 0; e < extra; e++) {
    const subIndex = rng.int(0, SUBCATEGORIES.length - 1);
    const sub = at(SUBCATEGORIES, subIndex);
    const item = makeItem(subIndex, rng.pick(brandsOf(sub.key)), rng.pick(sub.lineNames), rng.int(0, sub.routine.length - 1));
    item.unreviewed = true;
    lines.push([item]);
  }

  // Asins: sorted, handed out line by line in routine order (lines themselves shuffled). A product
  // line launched together gets neighbouring asins, which also makes file order (asin order) agree
  // with routine order for most same-day ties.
  rng.shuffle(lines);
  const asins = new Set<string>();
  const total = lines.reduce((n, l) => n + l.length, 0);
  while (asins.size < total) asins.add(randomAsin(rng));
  const sortedAsins = [...asins].sort();
  const items: Item[] = [];
  for (const line of lines) {
    for (const item of line) {
      item.index = items.length;
      item.asin = at(sortedAsins, items.length);
      items.push(item);
    }
  }

  // successors: the next routine step of the same line; after the last step, the first step of
  // another line of the same subcategory.
  SUBCATEGORIES.forEach((_, subIndex) => {
    const subLines = at(linesBySub, subIndex);
    for (const line of subLines) {
      for (const item of line) {
        const nextStep = line.filter((x) => x.routineStep === item.routineStep + 1);
        if (nextStep.length > 0) {
          item.successor = rng.pick(nextStep).index;
        } else {
          const others = subLines.filter((l) => l !== line);
          const target = others.length > 0 ? rng.pick(others) : line;
          item.successor = at(target, 0).index;
        }
      }
    }
  });
  // metadata-only items point at a reviewable next-step item of their subcategory (used in texts)
  for (const item of items.filter((x) => x.unreviewed)) {
    const same = items.filter((x) => x.subIndex === item.subIndex && !x.unreviewed);
    const nextStep = same.filter((x) => x.routineStep === item.routineStep + 1);
    item.successor = rng.pick(nextStep.length > 0 ? nextStep : same).index;
  }

  // popularity: Zipf over a random permutation inside each subcategory
  const pools = SUBCATEGORIES.map((_, subIndex) => {
    const pool = items.filter((x) => x.subIndex === subIndex && !x.unreviewed).map((x) => x.index);
    rng.shuffle(pool);
    const cumulative: number[] = [];
    let acc = 0;
    pool.forEach((idx, rank) => {
      const w = 1 / Math.pow(rank + 1, ZIPF_EXPONENT);
      at(items, idx).popularity = w;
      acc += w;
      cumulative.push(acc);
    });
    return { items: pool, cumulative };
  });
  const brandPools = SUBCATEGORIES.map((_, subIndex) => {
    const m = new Map<string, number[]>();
    for (const idx of at(pools, subIndex).items) {
      const b = at(items, idx).brand;
      m.set(b, [...(m.get(b) ?? []), idx]);
    }
    return m;
  });

  // about 1% of reviewed items have no metadata record
  const reviewable = items.filter((x) => !x.unreviewed);
  const noMeta = Math.max(1, Math.round(opts.items * 0.01));
  for (const item of rng.shuffle([...reviewable]).slice(0, noMeta)) item.noMeta = true;

  return { items, pools, brandPools, brandWeight };
}

// ---------------------------------------------------------------------------------------------
// Metadata records

type PyValue = string | number | boolean | null | PyFloat | PyValue[] | { [key: string]: PyValue | undefined };

class PyFloat {
  constructor(readonly value: number) {}
}

/** Python 3 repr of a str. */
function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code <= 0xa0)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python repr of a value: dicts keep insertion order and skip undefined entries. */
function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return pyStr(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`not an int: ${v}; wrap floats in PyFloat`);
    return String(v);
  }
  if (v instanceof PyFloat) {
    const s = String(v.value);
    if (!Number.isFinite(v.value) || /e/i.test(s)) throw new TypeError(`unsupported float ${s}`);
    return Number.isInteger(v.value) ? `${s}.0` : s;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) if (x !== undefined) parts.push(`${pyStr(k)}: ${pyRepr(x)}`);
  return `{${parts.join(', ')}}`;
}

function topCategory(category: string): string {
  return category.replace(/_and_/g, ' & ').replace(/_/g, ' ');
}

function htmlize(s: string, rng: Rng, pAmp: number, pApos: number): string {
  let out = s;
  if (rng.chance(pAmp)) out = out.replace(/&/g, '&amp;');
  if (rng.chance(pApos)) out = out.replace(/'/g, '&#39;');
  return out;
}

function itemTitle(item: Item): string {
  const parts = [`${item.brand} ${item.line} ${item.type.name}`];
  if (item.variant) parts.push(item.variant);
  parts.push(item.size);
  return parts.join(', ');
}

/**
 * `fastPicks` draws the related-product lists by a partial shuffle of the subcategory pool (O(n)
 * per list) instead of shuffling the whole pool (O(pool) per list, quadratic in the catalog: hours
 * at 100k items). Same distribution, different draws, so it is only used by the `order: 'user'`
 * layout; the default keeps the sample's exact bytes.
 */
function buildMetaRecords(cat: Catalog, opts: SyntheticOptions, fastPicks = false): string[] {
  const rng = new Rng(hashSeed(opts.seed, 'meta', opts.items, opts.category));
  const top = topCategory(opts.category);
  const { items } = cat;
  const quoteTitles = new Set(
    rng.shuffle(items.filter((x) => !x.noMeta).map((x) => x.index)).slice(0, 2),
  );
  const lines: string[] = [];
  for (const item of items) {
    if (item.noMeta) continue;
    const sub = item.sub;
    const next = at(items, item.successor);

    let title: string | undefined = htmlize(itemTitle(item), rng, 0.7, 0.3);
    if (quoteTitles.has(item.index)) title = `${item.brand} ${item.line} ${item.type.name}, 4" Travel Size, Women's Edition`;
    else if (rng.chance(0.03)) title = undefined;

    let description: string | undefined;
    if (!rng.chance(0.3)) {
      const vars = {
        brand: item.brand, line: item.line, type: item.type.name, next: next.type.name,
        attr: rng.pick(sub.attributes), size: item.size,
      };
      const sentences = [fill(rng.pick(DESCRIPTION_OPENERS), vars)];
      const k = rng.int(1, 3);
      for (const t of rng.shuffle([...DESCRIPTION_MIDDLES]).slice(0, k)) sentences.push(fill(t, vars));
      if (rng.chance(0.5)) sentences.push(rng.pick(DESCRIPTION_CLOSERS));
      if (rng.chance(0.3)) {
        description = htmlize(sentences.join(rng.pick(['<br />', '<br>', '<br /><br />'])), rng, 0.9, 0.6);
      } else {
        description = htmlize(sentences.join(' '), rng, 0.3, 0.1);
      }
      if (rng.chance(0.05)) description += '\n'; // stray newline, forces a \n escape
    }

    const [lo, hi] = item.type.price;
    const price = rng.chance(0.15) ? undefined : new PyFloat(Math.round((lo + rng.next() * (hi - lo)) * 100) / 100);

    const pool = at(cat.pools, item.subIndex).items;
    const sameSub = fastPicks ? [] : pool.filter((i) => i !== item.index);
    const pickAsins = (n: number, first?: number): string[] => {
      const chosen = fastPicks
        ? sampleDistinct(pool, n + 1, rng).filter((i) => i !== item.index).slice(0, n)
        : rng.shuffle([...sameSub]).slice(0, n);
      if (first !== undefined) chosen.unshift(first);
      const out = [...new Set(chosen)].map((i) => at(items, i).asin);
      // real lists also point at products outside the category file
      if (rng.chance(0.2)) out.push(randomAsin(rng));
      return out;
    };
    const related: Record<string, PyValue> = {};
    if (rng.chance(0.9)) related['also_bought'] = pickAsins(rng.int(2, 8), item.successor);
    if (rng.chance(0.7)) related['also_viewed'] = pickAsins(rng.int(1, 6));
    if (rng.chance(0.4)) related['bought_together'] = [next.asin];

    const rank = Math.round((2_000 / Math.max(item.popularity, 0.01)) * (0.5 + rng.next() * 3));
    const categories: string[][] = [[top, ...sub.path, item.type.leaf]];
    if (sub.extraPath && rng.chance(0.15)) categories.push([top, ...sub.extraPath]);

    const record: Record<string, PyValue | undefined> = {
      asin: item.asin,
      description,
      title,
      price,
      imUrl: `http://ecx.images-amazon.com/images/I/${imageId(rng)}.jpg`,
      related: Object.keys(related).length > 0 ? related : undefined,
      salesRank: rng.chance(0.02) ? undefined : { [top]: rank },
      brand: rng.chance(0.1) ? undefined : item.brand,
      categories,
    };
    lines.push(pyRepr(record));
  }
  return rng.shuffle(lines);
}

/** `n` distinct entries of `pool` (all of it when shorter), by a partial Fisher-Yates shuffle. */
function sampleDistinct(pool: readonly number[], n: number, rng: Rng): number[] {
  const moved = new Map<number, number>();
  const valueAt = (i: number) => moved.get(i) ?? at(pool, i);
  const out: number[] = [];
  for (let k = 0; k < Math.min(n, pool.length); k++) {
    const j = k + Math.floor(rng.next() * (pool.length - k));
    const picked = valueAt(j);
    moved.set(j, valueAt(k));
    out.push(picked);
  }
  return out;
}

function imageId(rng: Rng): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = String(rng.int(3, 5)) + '1';
  for (let i = 0; i < 8; i++) s += chars[rng.int(0, chars.length - 1)];
  return `${s}L._SY300_`;
}

// ---------------------------------------------------------------------------------------------
// Users and reviews

interface Review {
  reviewerID: string;
  asin: string;
  reviewerName: string | undefined;
  helpful: [number, number];
  reviewText: string;
  overall: number;
  summary: string;
  day: number;
}

function reviewerId(rng: Rng): string {
  const chars = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let s = 'A';
  const n = rng.int(12, 13);
  for (let i = 0; i < n; i++) s += chars[rng.int(0, chars.length - 1)];
  return s;
}

function reviewerName(rng: Rng): string | undefined {
  const r = rng.next();
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  if (r < 0.01) return undefined;
  if (r < 0.06) return 'Amazon Customer';
  if (r < 0.3) return `${first[0]}. ${last}`;
  if (r < 0.4) return first.toLowerCase();
  if (r < 0.42) return `${first} "${first.slice(0, 3).toLowerCase()}"`;
  return `${first} ${last}`;
}

function drawFromPool(rng: Rng, pool: { items: number[]; cumulative: number[] }): number {
  const total = pool.cumulative[pool.cumulative.length - 1] ?? 0;
  const r = rng.next() * total;
  let lo = 0;
  let hi = pool.cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(pool.cumulative, mid) > r) hi = mid;
    else lo = mid + 1;
  }
  return at(pool.items, lo);
}

function buildUserReviews(cat: Catalog, opts: SyntheticOptions, u: number, takenIds: Set<string>): Review[] {
  const rng = new Rng(hashSeed(opts.seed, 'user', u));
  const { items, pools, brandPools } = cat;

  let id = reviewerId(rng);
  while (takenIds.has(id)) id = reviewerId(rng);
  takenIds.add(id);
  const name = reviewerName(rng);

  // taste: a primary and often a secondary subcategory, a favorite brand in each, a loyalty level
  const subWeights = SUBCATEGORIES.map((s) => s.weight);
  const primary = rng.weighted(subWeights);
  let secondary = -1;
  if (rng.chance(0.6)) {
    secondary = rng.weighted(subWeights.map((w, i) => (i === primary ? 0 : w)));
  }
  const taste = SUBCATEGORIES.map((_, i) =>
    i === primary ? (secondary >= 0 ? 0.72 : 0.9) : i === secondary ? 0.2 : 0.1 / (SUBCATEGORIES.length - 1),
  );
  const favorite = SUBCATEGORIES.map((_, i) => {
    const brands = [...at(brandPools, i).keys()];
    return brands.length > 0 ? at(brands, rng.weighted(brands.map((b) => cat.brandWeight.get(b) ?? 1))) : undefined;
  });
  const loyalty = 0.2 + rng.next() * 0.4;
  const bias = rng.next() < 0.15 ? -1 : 0; // some users are harsher

  const tasteDraw = (): number => {
    const s = rng.weighted(taste);
    const fav = at(favorite, s);
    const favItems = fav !== undefined ? at(brandPools, s).get(fav) : undefined;
    if (favItems && favItems.length > 0 && rng.chance(loyalty)) return rng.pick(favItems);
    return drawFromPool(rng, at(pools, s));
  };

  // 5-20 reviews (mean about 9); about 5% of users have only 3-4, so k-core has work to do
  let n = rng.chance(0.05) ? rng.int(3, 4) : 5 + rng.expInt(4.5);
  while (n > 20) n = 5 + rng.expInt(4.5);
  const seq: number[] = [];
  const seen = new Set<number>();
  for (let k = 0; k < n; k++) {
    let next: number | undefined;
    const prev = seq[seq.length - 1];
    if (prev !== undefined && rng.chance(FOLLOW_PROB)) {
      const s = at(items, prev).successor;
      if (!seen.has(s)) next = s;
    }
    for (let tries = 0; next === undefined && tries < 30; tries++) {
      const c = tasteDraw();
      if (!seen.has(c)) next = c;
    }
    if (next === undefined) break;
    seq.push(next);
    seen.add(next);
  }
  // a few repurchases: the same (user, item) reviewed twice
  if (seq.length >= 4 && seq.length < 20 && rng.chance(0.012)) {
    const pos = rng.int(2, seq.length);
    seq.splice(pos, 0, at(seq, rng.int(0, pos - 2)));
  }

  let day = FIRST_DAY + rng.int(0, LAST_START_DAY - FIRST_DAY);
  const reviews: Review[] = [];
  seq.forEach((idx, k) => {
    if (k > 0 && !rng.chance(0.15)) day += 1 + rng.expInt(25);
    day = Math.min(day, LAST_DAY);
    const item = at(items, idx);
    const prevItem = k > 0 ? at(items, at(seq, k - 1)) : undefined;
    const stars = Math.max(1, Math.min(5, 1 + rng.weighted([0.06, 0.06, 0.11, 0.22, 0.55]) + bias)) as 1 | 2 | 3 | 4 | 5;
    const vars = {
      type: item.type.name.toLowerCase(),
      brand: item.brand,
      n: String(rng.int(2, 12)),
      attr: rng.pick(item.sub.attributes),
      adj: rng.pick(ADJECTIVES),
      next: at(items, item.successor).type.name.toLowerCase(),
      prev: prevItem ? prevItem.type.name.toLowerCase() : 'last one',
    };
    const sentences = [fill(rng.pick(OPENERS[stars]), vars)];
    for (const t of rng.shuffle([...DETAILS]).slice(0, rng.int(0, 2))) sentences.push(fill(t, vars));
    const closer = rng.pick(CLOSERS);
    if (closer) sentences.push(closer);
    const helpfulTotal = rng.chance(0.7) ? 0 : 1 + rng.expInt(3);
    reviews.push({
      reviewerID: id,
      asin: item.asin,
      reviewerName: name,
      helpful: [rng.int(0, helpfulTotal), helpfulTotal],
      reviewText: sentences.join(' '),
      overall: stars,
      summary: fill(rng.pick(SUMMARIES[stars]), vars),
      day,
    });
  });
  return reviews;
}

/** One reviews line in the key order and float formatting of the original files. */
function reviewJson(r: Review): string {
  const d = new Date(r.day * 86_400_000);
  const reviewTime = `${String(d.getUTCMonth() + 1).padStart(2, '0')} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
  const parts = [
    `"reviewerID": ${JSON.stringify(r.reviewerID)}`,
    `"asin": ${JSON.stringify(r.asin)}`,
  ];
  if (r.reviewerName !== undefined) parts.push(`"reviewerName": ${JSON.stringify(r.reviewerName)}`);
  parts.push(
    `"helpful": [${r.helpful[0]}, ${r.helpful[1]}]`,
    `"reviewText": ${JSON.stringify(r.reviewText)}`,
    `"overall": ${r.overall.toFixed(1)}`,
    `"summary": ${JSON.stringify(r.summary)}`,
    `"unixReviewTime": ${r.day * DAY_S}`,
    `"reviewTime": ${JSON.stringify(reviewTime)}`,
  );
  return `{${parts.join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------
// Writing

async function writeGzipLines(file: string, lines: Iterable<string>, level = 9): Promise<void> {
  function* chunks(): Generator<Buffer> {
    let buf = '';
    for (const line of lines) {
      buf += `${line}\n`;
      if (buf.length >= 1 << 16) {
        yield Buffer.from(buf, 'utf8');
        buf = '';
      }
    }
    if (buf) yield Buffer.from(buf, 'utf8');
  }
  // Fixed parameters; Node's gzip header has mtime 0 and no file name, so output depends on input only.
  const gzip = createGzip({ level, memLevel: 8, strategy: zc.Z_DEFAULT_STRATEGY });
  await pipeline(Readable.from(chunks()), gzip, createWriteStream(file));
}

function validate(opts: SyntheticOptions): void {
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  if (!Number.isInteger(opts.users) || opts.users < 1) throw new RangeError(`users must be >= 1, got ${opts.users}`);
  if (!Number.isInteger(opts.items) || opts.items < 30) throw new RangeError(`items must be >= 30, got ${opts.items}`);
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(opts.category)) throw new RangeError(`bad category name ${JSON.stringify(opts.category)}`);
}

/**
 * How the files are laid out, not what they hold. The defaults give the sample's exact bytes.
 * `order: 'user'` writes each user's reviews as they are generated (memory stays flat however many
 * users: what the ingestion benchmark needs for millions of reviews) instead of sorting every
 * review by product as the original 5-core files are; `gzipLevel` trades size for speed.
 */
export interface SyntheticLayout {
  order?: 'product' | 'user';
  gzipLevel?: number;
}

export async function writeSyntheticDataset(dir: string, opts: SyntheticOptions, layout: SyntheticLayout = {}): Promise<SyntheticResult> {
  validate(opts);
  await mkdir(dir, { recursive: true });
  const catalog = buildCatalog(opts);
  if (layout.order === 'user') return writeByUser(dir, opts, catalog, layout.gzipLevel ?? 9);

  const reviews: Review[] = [];
  const takenIds = new Set<string>();
  for (let u = 0; u < opts.users; u++) reviews.push(...buildUserReviews(catalog, opts, u, takenIds));
  // the original 5-core files are grouped by product
  reviews.sort((a, b) =>
    a.asin < b.asin ? -1 : a.asin > b.asin ? 1 : a.day - b.day || (a.reviewerID < b.reviewerID ? -1 : a.reviewerID > b.reviewerID ? 1 : 0),
  );
  const meta = buildMetaRecords(catalog, opts);

  const reviewsFile = path.join(dir, `reviews_${opts.category}_5.json.gz`);
  const metaFile = path.join(dir, `meta_${opts.category}.json.gz`);
  await writeGzipLines(reviewsFile, (function* () {
    for (const r of reviews) yield reviewJson(r);
  })(), layout.gzipLevel);
  await writeGzipLines(metaFile, meta, layout.gzipLevel);

  return {
    reviewsFile,
    metaFile,
    reviews: reviews.length,
    metaRecords: meta.length,
    users: takenIds.size,
    reviewedItems: new Set(reviews.map((r) => r.asin)).size,
  };
}

/** Reviews in user order, streamed: one user's reviews are built, written and dropped at a time. */
async function writeByUser(dir: string, opts: SyntheticOptions, catalog: Catalog, level: number): Promise<SyntheticResult> {
  const reviewsFile = path.join(dir, `reviews_${opts.category}_5.json.gz`);
  const metaFile = path.join(dir, `meta_${opts.category}.json.gz`);
  const takenIds = new Set<string>();
  const reviewed = new Set<string>();
  let count = 0;
  await writeGzipLines(reviewsFile, (function* () {
    for (let u = 0; u < opts.users; u++) {
      for (const r of buildUserReviews(catalog, opts, u, takenIds)) {
        reviewed.add(r.asin);
        count++;
        yield reviewJson(r);
      }
    }
  })(), level);
  const meta = buildMetaRecords(catalog, opts, true);
  await writeGzipLines(metaFile, meta, level);
  return { reviewsFile, metaFile, reviews: count, metaRecords: meta.length, users: takenIds.size, reviewedItems: reviewed.size };
}
