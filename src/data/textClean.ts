/**
 * Item text cleaning, ported from the official LC-Rec `clean_text` (OFF:data_process/utils.py, spec
 * A.4) and the field handling in OFF:data_process/amazon18_data_process.py `load_meta_items`.
 *
 * The official Python, for reference (the TS below mirrors it step by step):
 *
 *     if isinstance(raw_text, list):
 *         for raw in raw_text:
 *             raw = html.unescape(raw); raw = re.sub(r'</?\w+[^>]*>', '', raw)
 *             raw = re.sub(r'["\n\r]*', '', raw); new_raw_text.append(raw.strip())
 *         cleaned_text = ' '.join(new_raw_text)
 *     else:
 *         cleaned_text = str(raw_text)[1:-1].strip() if dict else raw_text.strip()
 *         cleaned_text = html.unescape(cleaned_text); (tag strip); (quote strip)    # no strip after
 *     (drop trailing dots, but never the first character, then append exactly one '.')
 *     if len(cleaned_text) >= 2000: cleaned_text = ''
 *
 * One addition of ours: C0 and C1 control characters (other than tab, which Python keeps, and the
 * newlines `clean_text` removes) are dropped from every field. They are invisible, a tokenizer has
 * no use for them, and a multi-GB dump should not fail over one stray byte.
 *
 * Python semantics kept on purpose: `strip()` uses Python's whitespace set (not JS `trim`), `\w` is
 * Unicode-aware, `html.unescape`'s numeric-reference rules are reproduced exactly, and the 2000 limit
 * counts code points. Where Python would raise (a None title, a number in a description list) we
 * are lenient instead: null/undefined read as "", other non-strings as their Python `str()`.
 */
import { decodeHTML } from 'entities';
import { formatPyNumber, toPythonRepr, type PyValue } from './pyLiteral.js';

export const MAX_TEXT_CHARS = 2000;

/** Official `clean_text`: HTML-unescaped, tag- and quote-free text ending in exactly one '.'. */
export function cleanText(raw: unknown): string {
  return finishText(scrubText(raw));
}

/**
 * `cleanText` for titles, except that a missing or empty title gives "" instead of ".": a missing
 * title must stay detectable, because downstream falls back to `item_<id>` (genrec) for it.
 */
export function cleanTitle(raw: unknown): string {
  const scrubbed = scrubText(raw);
  return scrubbed === '' ? '' : finishText(scrubbed);
}

/**
 * Brand: the official `brand.replace("by\n", "").strip()` (2018 brands look like
 * "by\n    \n    Microsoft"), plus, as our own additions, a leading "by " removed and HTML entities
 * decoded. No trailing dot is added. Missing gives "".
 */
export function cleanBrand(raw: unknown): string {
  if (raw === null || raw === undefined) return '';
  let brand = pyStrip(pyStr(raw).replaceAll('by\n', ''));
  if (brand.startsWith('by ')) brand = pyStrip(brand.slice(3));
  return pyStrip(dropControls(htmlUnescape(brand)));
}

/**
 * Categories as one comma-joined string, coarse to fine ("Beauty,Makeup,Nails,Nail Polish").
 * - flat list (2018 `category`): entries up to the first one containing "</span>" (scrape debris);
 * - list of lists (2014 `categories`): the FIRST path, which is how the shared Beauty.item.json was
 *   built (genrec's LLM text uses the last path instead; that is a separate, prompt-side choice);
 * - a string: taken as already joined (not re-split: names such as "Arts, Crafts & Sewing" contain
 *   commas).
 * Each entry is HTML-unescaped (our addition; the official code keeps entities) and stripped.
 */
export function joinCategories(raw: unknown): string {
  if (typeof raw === 'string') return pyStrip(dropControls(htmlUnescape(raw)));
  if (!Array.isArray(raw) || raw.length === 0) return '';
  const path: unknown[] = Array.isArray(raw[0]) ? raw[0] : raw;
  const kept: string[] = [];
  for (const entry of path) {
    const text = pyStr(entry);
    if (text.includes('</span>')) break;
    kept.push(pyStrip(dropControls(htmlUnescape(text))));
  }
  return pyStrip(kept.join(','));
}

/** The part of `clean_text` before the trailing-dot step. */
function scrubText(raw: unknown): string {
  if (Array.isArray(raw)) return raw.map((unit) => pyStrip(scrub(pyStr(unit)))).join(' ');
  if (isPlainObject(raw)) return scrub(pyStrip(toPythonRepr(raw as PyValue).slice(1, -1)));
  return scrub(pyStrip(pyStr(raw)));
}

const TAG = /<\/?[\p{L}\p{N}_][^>]*>/gu; // Python's `</?\w+[^>]*>`: Unicode \w is exactly [\p{L}\p{N}_]
const QUOTES_AND_NEWLINES = /["\n\r]/g;
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

function scrub(text: string): string {
  return dropControls(htmlUnescape(text).replace(TAG, '').replace(QUOTES_AND_NEWLINES, ''));
}

/** Our addition (see the top of this file): control characters other than tab and newlines. */
function dropControls(text: string): string {
  return text.replace(CONTROLS, '');
}

/**
 * Official trailing-dot rule: drop trailing dots but never look at the first character, then
 * append one '.'. So "a..." -> "a.", "" -> ".", and (a quirk kept as is) "..." -> "..".
 * Then anything of 2000 or more code points becomes "".
 */
function finishText(text: string): string {
  let end = text.length;
  while (end > 1 && text.charCodeAt(end - 1) === 46) end--;
  const dotted = `${text.slice(0, end)}.`;
  return codePointLength(dotted, MAX_TEXT_CHARS) >= MAX_TEXT_CHARS ? '' : dotted;
}

/** Code points in `text`, counting no further than `limit`. */
function codePointLength(text: string, limit: number): number {
  if (text.length < limit) return text.length; // UTF-16 units >= code points
  let count = 0;
  for (const _ of text) if (++count >= limit) break;
  return count;
}

function isPlainObject(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Python `str()` of a JSON-like value; null/undefined become "" (Python would raise). */
function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return formatPyNumber(value);
  return toPythonRepr(value as PyValue);
}

// Python's str.isspace() set: JS `trim` also strips U+FEFF and misses U+001C-U+001F and U+0085.
const PY_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python `str.strip()` with no arguments. */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

// ---------------------------------------------------------------------------------------------
// Python `html.unescape`. Named references go to the `entities` package (HTML5 table, legacy names
// without ';' by longest prefix, as Python does); numeric ones follow Python's exact rules, which
// differ from the HTML spec in dropping some code points (e.g. "&#1;" -> "").

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (match: string, ref: string) =>
    ref.charCodeAt(0) === 35 ? numericCharref(ref) : decodeHTML(match),
  );
}

function numericCharref(ref: string): string {
  const isHex = ref[1] === 'x' || ref[1] === 'X';
  const digits = ref.slice(isHex ? 2 : 1).replace(/;$/, '');
  const code = Number.parseInt(digits, isHex ? 16 : 10);
  const replaced = INVALID_CHARREFS.get(code);
  if (replaced !== undefined) return replaced;
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(code)) return '';
  return String.fromCodePoint(code);
}

// Python html._invalid_charrefs: Windows-1252 meanings of C1 references, plus NUL and CR.
const INVALID_CHARREFS = new Map<number, string>([
  [0x00, '\ufffd'], [0x0d, '\r'], [0x80, '\u20ac'], [0x81, '\x81'], [0x82, '\u201a'], [0x83, '\u0192'],
  [0x84, '\u201e'], [0x85, '\u2026'], [0x86, '\u2020'], [0x87, '\u2021'], [0x88, '\u02c6'], [0x89, '\u2030'],
  [0x8a, '\u0160'], [0x8b, '\u2039'], [0x8c, '\u0152'], [0x8d, '\x8d'], [0x8e, '\u017d'], [0x8f, '\x8f'],
  [0x90, '\x90'], [0x91, '\u2018'], [0x92, '\u2019'], [0x93, '\u201c'], [0x94, '\u201d'], [0x95, '\u2022'],
  [0x96, '\u2013'], [0x97, '\u2014'], [0x98, '\u02dc'], [0x99, '\u2122'], [0x9a, '\u0161'], [0x9b, '\u203a'],
  [0x9c, '\u0153'], [0x9d, '\x9d'], [0x9e, '\u017e'], [0x9f, '\u0178'],
]);

// Python html._invalid_codepoints (those not already handled by INVALID_CHARREFS).
function isInvalidCodepoint(code: number): boolean {
  return (
    (code >= 0x1 && code <= 0x8) ||
    code === 0xb ||
    (code >= 0xe && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe
  );
}
