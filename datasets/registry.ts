/**
 * The Amazon review releases by name: `amazon2014:beauty`, `amazon2018:gift_cards`,
 * `amazon2023:all_beauty`, optionally with a variant (`amazon2018:gift_cards:ratings`,
 * `amazon2023:all_beauty:last_out_w_his`). `lcrec datasets list` prints them.
 *
 * NOT VERIFIED FROM THIS MACHINE: the build machines have no internet access, so none of these
 * URLs was fetched here and no sha256 is known (`sha256: null`, `verified: false`). They follow
 * the layouts the releases document (McAuley lab pages, spec A.1-A.2); a download checks the
 * digest wherever an entry names one.
 */
import type { DatasetFormat } from '../src/config/schema.js';
import { BadInputError } from '../src/errors.js';

export interface RegistryFile {
  /** File name in the data directory; the reader finds its role by this name. */
  name: string;
  url: string;
  /** Hex sha256 of the file, when known. */
  sha256: string | null;
}

export interface RegistryEntry {
  /** `<release>:<category>:<variant>`, lower case. */
  id: string;
  release: Release;
  /** The release's own spelling, e.g. `Gift_Cards`. */
  category: string;
  variant: string;
  format: DatasetFormat;
  files: RegistryFile[];
  /** True only once the URLs and digests were fetched and checked. */
  verified: boolean;
  description: string;
}

type Release = 'amazon2014' | 'amazon2018' | 'amazon2023';

// 2014 "productGraph" 5-core category files (genrec's source).
const CATEGORIES_2014 = [
  'Books', 'Electronics', 'Movies_and_TV', 'CDs_and_Vinyl', 'Clothing_Shoes_and_Jewelry', 'Home_and_Kitchen', 'Kindle_Store',
  'Sports_and_Outdoors', 'Cell_Phones_and_Accessories', 'Health_and_Personal_Care', 'Toys_and_Games', 'Video_Games',
  'Tools_and_Home_Improvement', 'Beauty', 'Apps_for_Android', 'Office_Products', 'Pet_Supplies', 'Automotive',
  'Grocery_and_Gourmet_Food', 'Patio_Lawn_and_Garden', 'Baby', 'Digital_Music', 'Musical_Instruments', 'Amazon_Instant_Video',
];

// 2018 "Amazon Review Data (2018)" category files (the official LC-Rec source).
const CATEGORIES_2018 = [
  'AMAZON_FASHION', 'All_Beauty', 'Appliances', 'Arts_Crafts_and_Sewing', 'Automotive', 'Books', 'CDs_and_Vinyl',
  'Cell_Phones_and_Accessories', 'Clothing_Shoes_and_Jewelry', 'Digital_Music', 'Electronics', 'Gift_Cards',
  'Grocery_and_Gourmet_Food', 'Home_and_Kitchen', 'Industrial_and_Scientific', 'Kindle_Store', 'Luxury_Beauty',
  'Magazine_Subscriptions', 'Movies_and_TV', 'Musical_Instruments', 'Office_Products', 'Patio_Lawn_and_Garden',
  'Pet_Supplies', 'Prime_Pantry', 'Software', 'Sports_and_Outdoors', 'Tools_and_Home_Improvement', 'Toys_and_Games',
  'Video_Games',
];

// 2023 "Amazon Reviews 2023" categories.
const CATEGORIES_2023 = [
  'All_Beauty', 'Amazon_Fashion', 'Appliances', 'Arts_Crafts_and_Sewing', 'Automotive', 'Baby_Products',
  'Beauty_and_Personal_Care', 'Books', 'CDs_and_Vinyl', 'Cell_Phones_and_Accessories', 'Clothing_Shoes_and_Jewelry',
  'Digital_Music', 'Electronics', 'Gift_Cards', 'Grocery_and_Gourmet_Food', 'Handmade_Products', 'Health_and_Household',
  'Health_and_Personal_Care', 'Home_and_Kitchen', 'Industrial_and_Scientific', 'Kindle_Store', 'Magazine_Subscriptions',
  'Movies_and_TV', 'Musical_Instruments', 'Office_Products', 'Patio_Lawn_and_Garden', 'Pet_Supplies', 'Software',
  'Sports_and_Outdoors', 'Subscription_Boxes', 'Tools_and_Home_Improvement', 'Toys_and_Games', 'Video_Games', 'Unknown',
];

const BASE_2014 = 'http://snap.stanford.edu/data/amazon/productGraph/categoryFiles';
const BASE_2018 = 'https://jmcauley.ucsd.edu/data/amazon_v2';
const BASE_2023 = 'https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023';

const file = (name: string, url: string): RegistryFile => ({ name, url, sha256: null });

/** Each release's variants; the first is the default. */
const VARIANTS: Record<Release, Record<string, (cat: string) => { format: DatasetFormat; files: RegistryFile[]; description: string }>> = {
  amazon2014: {
    '5core': (c) => ({
      format: 'amazon2014',
      files: [file(`reviews_${c}_5.json.gz`, `${BASE_2014}/reviews_${c}_5.json.gz`), file(`meta_${c}.json.gz`, `${BASE_2014}/meta_${c}.json.gz`)],
      description: '5-core reviews (JSON lines) and Python-literal metadata',
    }),
  },
  amazon2018: {
    '5core': (c) => ({
      format: 'amazon2018',
      files: [file(`${c}_5.json.gz`, `${BASE_2018}/categoryFilesSmall/${c}_5.json.gz`), file(`meta_${c}.json.gz`, `${BASE_2018}/metaFiles2/meta_${c}.json.gz`)],
      description: '5-core reviews (JSON lines) and metadata (JSON lines)',
    }),
    ratings: (c) => ({
      format: 'amazon2018',
      files: [file(`${c}.csv`, `${BASE_2018}/categoryFilesSmall/${c}.csv`), file(`meta_${c}.json.gz`, `${BASE_2018}/metaFiles2/meta_${c}.json.gz`)],
      description: 'rating-only CSV (item,user,rating,timestamp; what the official LC-Rec script reads) and metadata',
    }),
  },
  amazon2023: {
    '5core': (c) => ({
      format: 'amazon2023',
      files: [
        file(`${c}.csv.gz`, `${BASE_2023}/benchmark/5core/rating_only/${c}.csv.gz`),
        file(`meta_${c}.jsonl.gz`, `${BASE_2023}/raw/meta_categories/meta_${c}.jsonl.gz`),
      ],
      description: '5-core rating-only CSV (user_id,parent_asin,rating,timestamp in ms) and metadata (JSON lines)',
    }),
    raw: (c) => ({
      format: 'amazon2023',
      files: [
        file(`${c}.jsonl.gz`, `${BASE_2023}/raw/review_categories/${c}.jsonl.gz`),
        file(`meta_${c}.jsonl.gz`, `${BASE_2023}/raw/meta_categories/meta_${c}.jsonl.gz`),
      ],
      description: 'all reviews (JSON lines) and metadata (JSON lines)',
    }),
    last_out_w_his: (c) => splits2023(c, 'last_out_w_his', 'leave-last-out'),
    timestamp_w_his: (c) => splits2023(c, 'timestamp_w_his', 'absolute-time'),
  },
};

/** The 2023 benchmark's 5-core train/valid/test CSVs with each row's history, and the metadata. */
function splits2023(c: string, dir: string, how: string): { format: DatasetFormat; files: RegistryFile[]; description: string } {
  return {
    format: 'amazon2023',
    files: [
      ...['train', 'valid', 'test'].map((split) => file(`${c}.${split}.csv.gz`, `${BASE_2023}/benchmark/5core/${dir}/${c}.${split}.csv.gz`)),
      file(`meta_${c}.jsonl.gz`, `${BASE_2023}/raw/meta_categories/meta_${c}.jsonl.gz`),
    ],
    description: `5-core ${how} train/valid/test split (user_id,parent_asin,rating,timestamp,history) and metadata; read back into full sequences`,
  };
}

const CATEGORIES: Record<Release, string[]> = { amazon2014: CATEGORIES_2014, amazon2018: CATEGORIES_2018, amazon2023: CATEGORIES_2023 };

function entry(release: Release, category: string, variant: string): RegistryEntry {
  const made = VARIANTS[release][variant]!(category);
  return { id: `${release}:${category.toLowerCase()}:${variant}`, release, category, variant, verified: false, ...made };
}

/** Every entry of the registry. */
export function listDatasets(): RegistryEntry[] {
  return (Object.keys(CATEGORIES) as Release[]).flatMap((release) =>
    CATEGORIES[release]!.flatMap((category) => Object.keys(VARIANTS[release]).map((variant) => entry(release, category, variant))),
  );
}

/** True for strings shaped like a registry name (so they are never mistaken for paths). */
export function isDatasetName(source: string): boolean {
  return /^amazon20(14|18|23):/i.test(source);
}

/** Resolves `release:category[:variant]` (case-insensitive); unknown names list the choices. */
export function resolveDatasetName(name: string): RegistryEntry {
  const [release, category, variant, ...rest] = name.toLowerCase().split(':');
  const releases = Object.keys(CATEGORIES) as Release[];
  if (!releases.includes(release as Release) || category === undefined || rest.length > 0) {
    throw new BadInputError(`not a dataset name: expected <release>:<category>[:<variant>] with release ${releases.join(', ')}`, { field: name });
  }
  const r = release as Release;
  const match = CATEGORIES[r].find((c) => c.toLowerCase() === category);
  if (!match) {
    throw new BadInputError(`unknown ${r} category '${category}'; known: ${CATEGORIES[r].map((c) => c.toLowerCase()).join(', ')}`, { field: name });
  }
  const variants = Object.keys(VARIANTS[r]);
  const v = variant ?? variants[0]!;
  if (!variants.includes(v)) throw new BadInputError(`unknown variant '${v}' of ${r}; known: ${variants.join(', ')}`, { field: name });
  return entry(r, match, v);
}
