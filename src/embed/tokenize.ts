/**
 * Word tokens for the TF-IDF encoder: NFKC-normalised, lower-cased (locale-independent), Unicode
 * aware. A token is a run of letters, combining marks and digits (`[\p{L}\p{M}\p{N}]+`), so
 * punctuation, spaces and symbols separate tokens ("Dr. Scholl's 0.5-Fluid" -> dr, scholl, s, 0, 5,
 * fluid). Tokens shorter than `minLength` code points are dropped (sklearn's default pattern keeps
 * 2+ characters), except Han, Hiragana and Katakana characters: those scripts write no spaces, so
 * each of their characters is a token of its own.
 */

const CJK_CHAR = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}';
/** Either one CJK character, or a run of word characters that are not CJK. */
const TOKEN = new RegExp(`([${CJK_CHAR}])|((?:(?![${CJK_CHAR}])[\\p{L}\\p{M}\\p{N}])+)`, 'gu');

export function tokenize(text: string, minLength = 2): string[] {
  const out: string[] = [];
  if (text === '') return out;
  const normal = text.normalize('NFKC').toLowerCase();
  for (const match of normal.matchAll(TOKEN)) {
    if (match[1] !== undefined) {
      out.push(match[1]);
      continue;
    }
    const word = match[2] as string;
    if (minLength <= 1 || codePoints(word, minLength) >= minLength) out.push(word);
  }
  return out;
}

/** Code points of `text`, counting no further than `limit`. */
function codePoints(text: string, limit: number): number {
  if (text.length < limit) return text.length; // UTF-16 units >= code points
  let n = 0;
  for (const _ of text) if (++n >= limit) break;
  return n;
}
