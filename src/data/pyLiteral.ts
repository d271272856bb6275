/**
 * A safe reader and writer for Python literal expressions: the format of Amazon 2014 metadata lines
 * (`{'asin': '0000031852', 'title': 'Girls Ballet Tutu', 'categories': [['Beauty', 'Makeup']], ...}`),
 * which genrec reads with Python `eval`. This is the subset of `ast.literal_eval` that those files
 * need, written as a hand-made scanner over char codes: nothing is ever evaluated.
 *
 * Accepted: dicts (string or number keys; a number key becomes its Python `str()`), lists, tuples
 * (read as arrays; `(x)` is just `x`), str literals in every quoting style with optional `u`/`r`
 * prefix, adjacent-literal concatenation, all Python escapes except `\N{...}`, ints (decimal with
 * underscores, 0x/0o/0b) and floats with an optional unary sign, `True`/`False`/`None`, trailing
 * commas, and whitespace (newlines included) between tokens.
 * Rejected with a PyLiteralError that names the column: names and calls, operators, attribute
 * access, sets, bytes and f-strings, complex numbers, `nan`/`inf` (names, not literals), comments,
 * `\N{...}` escapes, dict keys other than str/number, nesting deeper than `maxDepth` (default 200).
 * Checked against CPython's `ast.literal_eval` on ~80k generated inputs; the one deliberate
 * leniency is that newlines may separate tokens anywhere (Python rejects some outside brackets).
 *
 * Number caveats (JS numbers are IEEE doubles): ints beyond 2^53 lose precision, and `3.0` reads as
 * the same value as `3`, so `toPythonRepr` writes it back as `3` (use `pyFloatRepr` where a field is
 * known to be a Python float, such as `price`).
 */

export type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

export class PyLiteralError extends Error {
  override readonly name = 'PyLiteralError';
  /** 0-based offset into the parsed text. */
  readonly offset: number;
  /** 1-based line and column (column counted from the start of that line, in UTF-16 units). */
  readonly line: number;
  readonly column: number;

  constructor(problem: string, text: string, offset: number, detail?: string) {
    const { line, column } = lineAndColumn(text, offset);
    const where = line > 1 ? `line ${line}, column ${column}` : `column ${column}`;
    super(`${problem} at ${where}${detail === undefined ? '' : `: ${detail}`}`);
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

export interface PyLiteralOptions {
  /** Deepest allowed nesting of brackets (default 200, Python's own parser limit). */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 200;

export function parsePythonLiteral(text: string, options: PyLiteralOptions = {}): PyValue {
  const parser = new Parser(text, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  const value = parser.value();
  parser.skipSpace();
  if (parser.pos < text.length) parser.fail(parser.pos, LITERALS_ONLY);
  return value;
}

const LITERALS_ONLY = 'only Python literals are allowed';

// Char codes used by the scanner.
const TAB = 9, LF = 10, FF = 12, CR = 13, SPACE = 32, DQUOTE = 34, SQUOTE = 39;
const LPAREN = 40, RPAREN = 41, PLUS = 43, COMMA = 44, MINUS = 45, DOT = 46, COLON = 58;
const ZERO = 48, SEVEN = 55, NINE = 57, LBRACKET = 91, BACKSLASH = 92, RBRACKET = 93;
const UNDERSCORE = 95, LBRACE = 123, RBRACE = 125;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}
function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === UNDERSCORE;
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}
function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

class Parser {
  pos = 0;
  private depth = 0;
  /** The most recent number literal (text without underscores), so a number dict key can become
   *  exactly Python's str() of it: `1.5e3` -> '1500.0', `99999999999999999999` -> all its digits. */
  private lastNumber = { text: '', negative: false, isFloat: false };

  constructor(
    private readonly src: string,
    private readonly maxDepth: number,
  ) {}

  fail(offset: number, detail: string, problem = `unexpected ${this.describe(offset)}`): never {
    throw new PyLiteralError(problem, this.src, offset, detail);
  }

  /** What sits at `offset`, for error messages: `name 'open'`, `'+'` or `end of input`. */
  private describe(offset: number): string {
    const s = this.src;
    if (offset >= s.length) return 'end of input';
    const c = s.charCodeAt(offset);
    if (isIdentStart(c)) return `name '${s.slice(offset, this.identEnd(offset))}'`;
    const ch = String.fromCodePoint(s.codePointAt(offset) ?? c);
    return c < SPACE || c === 127 ? JSON.stringify(ch) : `'${ch}'`;
  }

  private identEnd(from: number): number {
    let i = from;
    while (isIdentChar(this.src.charCodeAt(i))) i++;
    return i;
  }

  skipSpace(): void {
    const s = this.src;
    let i = this.pos;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === SPACE || c === TAB || c === LF || c === CR || c === FF) i++;
      else break;
    }
    this.pos = i;
  }

  value(): PyValue {
    this.skipSpace();
    const s = this.src;
    const i = this.pos;
    const c = s.charCodeAt(i);
    switch (c) {
      case LBRACE:
        return this.dict();
      case LBRACKET:
        return this.list();
      case LPAREN:
        return this.parenthesised();
      case SQUOTE:
      case DQUOTE:
        return this.strings();
      case MINUS:
      case PLUS:
        return this.signedNumber();
    }
    if (isDigit(c) || (c === DOT && isDigit(s.charCodeAt(i + 1)))) return this.number(false);
    if (isIdentStart(c)) return this.nameOrPrefixedString();
    return this.fail(i, LITERALS_ONLY);
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      this.fail(this.pos, `reduce nesting (limit ${this.maxDepth})`, `nesting deeper than ${this.maxDepth} levels`);
    }
  }

  private dict(): { [k: string]: PyValue } {
    const s = this.src;
    const open = this.pos;
    this.enter();
    this.pos++;
    const out: { [k: string]: PyValue } = {};
    this.skipSpace();
    if (s.charCodeAt(this.pos) === RBRACE) {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const keyAt = this.pos;
      const key = this.value();
      this.skipSpace();
      let c = s.charCodeAt(this.pos);
      if (c !== COLON) {
        if (c === COMMA || c === RBRACE) this.fail(open, 'set literals are not supported', 'unexpected set');
        this.fail(this.pos, "expected ':' after a dict key");
      }
      this.pos++;
      setMember(out, this.dictKey(key, keyAt), this.value());
      this.skipSpace();
      c = s.charCodeAt(this.pos);
      if (c === COMMA) {
        this.pos++;
        this.skipSpace();
        c = s.charCodeAt(this.pos);
      } else if (c !== RBRACE) {
        this.fail(this.pos, "expected ',' or '}' in a dict");
      }
      if (c === RBRACE) break;
    }
    this.pos++;
    this.depth--;
    return out;
  }

  private dictKey(key: PyValue, at: number): string {
    if (typeof key === 'string') return key;
    if (typeof key === 'number') {
      const { text, negative, isFloat } = this.lastNumber;
      if (isFloat || !Number.isFinite(key)) return pyFloatRepr(key);
      return (BigInt(text) * (negative ? -1n : 1n)).toString();
    }
    return this.fail(at, 'dict keys must be strings or numbers', `unsupported dict key ${toPythonRepr(key)}`);
  }

  private list(): PyValue[] {
    this.enter();
    this.pos++;
    const out = this.sequence(RBRACKET, "expected ',' or ']' in a list");
    this.depth--;
    return out;
  }

  /** `()` is an empty tuple, `(x)` is `x`, `(x,)` and `(x, y)` are tuples (read as arrays). */
  private parenthesised(): PyValue {
    const s = this.src;
    this.enter();
    this.pos++;
    this.skipSpace();
    if (s.charCodeAt(this.pos) === RPAREN) {
      this.pos++;
      this.depth--;
      return [];
    }
    const first = this.value();
    this.skipSpace();
    const c = s.charCodeAt(this.pos);
    let out: PyValue;
    if (c === RPAREN) {
      this.pos++;
      out = first;
    } else if (c === COMMA) {
      this.pos++;
      out = [first, ...this.sequence(RPAREN, "expected ',' or ')' in a tuple")];
    } else {
      return this.fail(this.pos, "expected ',' or ')' in a tuple");
    }
    this.depth--;
    return out;
  }

  /** Comma-separated values up to `close` (already past the opening bracket); trailing comma ok. */
  private sequence(close: number, expected: string): PyValue[] {
    const s = this.src;
    const out: PyValue[] = [];
    this.skipSpace();
    if (s.charCodeAt(this.pos) === close) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skipSpace();
      let c = s.charCodeAt(this.pos);
      if (c === COMMA) {
        this.pos++;
        this.skipSpace();
        c = s.charCodeAt(this.pos);
      } else if (c !== close) {
        this.fail(this.pos, expected);
      }
      if (c === close) break;
    }
    this.pos++;
    return out;
  }

  private nameOrPrefixedString(): PyValue {
    const s = this.src;
    const start = this.pos;
    const end = this.identEnd(start);
    const name = s.slice(start, end);
    const next = s.charCodeAt(end);
    if (next === SQUOTE || next === DQUOTE) {
      const prefix = name.toLowerCase();
      if (prefix === 'u' || prefix === 'r') return this.strings();
      if (/^(b|br|rb)$/.test(prefix)) this.fail(start, 'only str literals are supported', 'unexpected bytes literal');
      if (/^(f|fr|rf)$/.test(prefix)) this.fail(start, 'f-strings are expressions, not literals', 'unexpected f-string');
    }
    switch (name) {
      case 'True':
        this.pos = end;
        return true;
      case 'False':
        this.pos = end;
        return false;
      case 'None':
        this.pos = end;
        return null;
    }
    return this.fail(start, LITERALS_ONLY);
  }

  /** One or more adjacent str literals ('a' "b" u'c'), concatenated as Python does. */
  private strings(): string {
    const s = this.src;
    let out = this.oneString();
    for (;;) {
      const save = this.pos;
      this.skipSpace();
      const c = s.charCodeAt(this.pos);
      if (c === SQUOTE || c === DQUOTE) {
        out += this.oneString();
        continue;
      }
      const n = s.charCodeAt(this.pos + 1);
      if ((c === 117 || c === 85 || c === 114 || c === 82) && (n === SQUOTE || n === DQUOTE)) {
        out += this.oneString(); // u'..', U'..', r'..', R'..'
        continue;
      }
      this.pos = save; // not a string: leave it (and the space) to the caller
      return out;
    }
  }

  /** One str literal at `pos`, with an optional u/U/r/R prefix. */
  private oneString(): string {
    const s = this.src;
    const start = this.pos;
    let i = start;
    let raw = false;
    let c = s.charCodeAt(i);
    if (c === 114 || c === 82) {
      raw = true;
      c = s.charCodeAt(++i);
    } else if (c === 117 || c === 85) {
      c = s.charCodeAt(++i);
    }
    const quote = c;
    const triple = s.charCodeAt(i + 1) === quote && s.charCodeAt(i + 2) === quote;
    i += triple ? 3 : 1;
    let out = '';
    let chunk = i;
    for (;;) {
      c = s.charCodeAt(i);
      if (c === quote) {
        if (!triple) break;
        if (s.charCodeAt(i + 1) === quote && s.charCodeAt(i + 2) === quote) break;
        i++;
      } else if (c === BACKSLASH) {
        if (i + 1 >= s.length) this.unterminated(start);
        if (raw && s.charCodeAt(i + 1) === CR) {
          out += `${s.slice(chunk, i)}\\\n`; // a raw backslash-newline keeps both; newline read as \n
          i += s.charCodeAt(i + 2) === LF ? 3 : 2;
          chunk = i;
        } else if (raw) {
          i += 2; // in a raw string a backslash escapes nothing but still protects the next char
        } else {
          out += s.slice(chunk, i);
          this.pos = i;
          out += this.escape(start);
          i = this.pos;
          chunk = i;
        }
      } else if (c === LF) {
        if (!triple) this.unterminated(start);
        i++;
      } else if (c === CR) {
        if (!triple) this.unterminated(start);
        out += `${s.slice(chunk, i)}\n`; // Python reads source newlines \r\n and \r as \n
        i += s.charCodeAt(i + 1) === LF ? 2 : 1;
        chunk = i;
      } else if (Number.isNaN(c)) {
        this.unterminated(start);
      } else {
        i++;
      }
    }
    out += s.slice(chunk, i);
    this.pos = i + (triple ? 3 : 1);
    return out;
  }

  private unterminated(start: number): never {
    throw new PyLiteralError('unterminated string', this.src, start, 'the closing quote is missing');
  }

  /** The escape sequence whose backslash is at `pos`; leaves `pos` after it. */
  private escape(stringStart: number): string {
    const s = this.src;
    const at = this.pos;
    const c = s.charCodeAt(at + 1);
    const ch = s[at + 1] ?? '';
    const simple = SIMPLE_ESCAPES[ch];
    if (simple !== undefined) {
      this.pos = at + 2;
      return simple;
    }
    if (c === LF) {
      this.pos = at + 2; // backslash-newline: line continuation
      return '';
    }
    if (c === CR) {
      this.pos = at + (s.charCodeAt(at + 2) === LF ? 3 : 2);
      return '';
    }
    if (c >= ZERO && c <= SEVEN) {
      let i = at + 1;
      let code = 0;
      while (i < at + 4 && s.charCodeAt(i) >= ZERO && s.charCodeAt(i) <= SEVEN) code = code * 8 + s.charCodeAt(i++) - ZERO;
      this.pos = i;
      return String.fromCharCode(code);
    }
    const hexDigits = ch === 'x' ? 2 : ch === 'u' ? 4 : ch === 'U' ? 8 : 0;
    if (hexDigits > 0) {
      let code = 0;
      for (let k = 0; k < hexDigits; k++) {
        const h = hexValue(s.charCodeAt(at + 2 + k));
        if (h < 0) this.fail(at, `truncated \\${ch} escape in the string starting at column ${stringStart + 1}`, 'bad escape');
        code = code * 16 + h;
      }
      if (code > 0x10ffff) this.fail(at, `\\${ch} escape beyond U+10FFFF`, 'bad escape');
      this.pos = at + 2 + hexDigits;
      return String.fromCodePoint(code);
    }
    if (ch === 'N') this.fail(at, '\\N{...} named escapes are not supported', 'unsupported escape');
    // Unknown escapes (\d, \w, ...) keep their backslash, as in Python.
    this.pos = at + 1;
    return '\\';
  }

  private signedNumber(): number {
    const s = this.src;
    const signAt = this.pos;
    const negative = s.charCodeAt(signAt) === MINUS;
    this.pos++;
    this.skipSpace();
    const c = s.charCodeAt(this.pos);
    if (!(isDigit(c) || (c === DOT && isDigit(s.charCodeAt(this.pos + 1))))) {
      this.fail(this.pos, `unary '${negative ? '-' : '+'}' is only allowed before a number`);
    }
    return this.number(negative);
  }

  private number(negative: boolean): number {
    const s = this.src;
    const start = this.pos;
    let i = start;
    let isFloat = false;
    let underscores = false;
    const c0 = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1) | 0x20; // lower-cased
    if (c0 === ZERO && (c1 === 120 || c1 === 111 || c1 === 98)) {
      i += 2; // 0x / 0o / 0b; an underscore may follow the prefix and separate digits
      const radix = c1 === 120 ? 16 : c1 === 111 ? 8 : 2;
      let seen = 0;
      for (;;) {
        let c = s.charCodeAt(i);
        if (c === UNDERSCORE) {
          underscores = true;
          c = s.charCodeAt(++i);
          const d = hexValue(c);
          if (d < 0 || d >= radix) this.fail(start, 'invalid underscore in number literal', 'bad number');
        }
        const d = hexValue(c);
        if (d < 0 || d >= radix) break;
        i++;
        seen++;
      }
      if (seen === 0) this.fail(start, 'invalid number literal', 'bad number');
    } else {
      i = this.digits(i, start);
      const intEnd = i;
      if (s.charCodeAt(i) === DOT) {
        isFloat = true;
        i++;
        if (isDigit(s.charCodeAt(i))) i = this.digits(i, start);
      }
      const e = s.charCodeAt(i) | 0x20;
      if (e === 101 && i > start) {
        isFloat = true;
        i++;
        const sign = s.charCodeAt(i);
        if (sign === PLUS || sign === MINUS) i++;
        if (!isDigit(s.charCodeAt(i))) this.fail(start, 'invalid exponent in number literal', 'bad number');
        i = this.digits(i, start);
      }
      if (!isFloat && c0 === ZERO && /[1-9]/.test(s.slice(start, intEnd))) {
        this.fail(start, 'leading zeros in decimal integer literals are not permitted', 'bad number');
      }
      underscores = s.slice(start, i).includes('_');
    }
    const after = s.charCodeAt(i);
    if ((after | 0x20) === 106) this.fail(start, LITERALS_ONLY, 'unexpected complex number');
    if (isIdentChar(after) || after === DOT) this.fail(start, 'invalid number literal', 'bad number');
    const text = s.slice(start, i);
    const digits = underscores ? text.replaceAll('_', '') : text;
    const magnitude = Number(digits);
    this.lastNumber = { text: digits, negative, isFloat };
    this.pos = i;
    if (!negative) return magnitude;
    return isFloat ? -magnitude : 0 - magnitude; // an int -0 is 0 in Python
  }

  /** Decimal digits with single underscores between them, starting at `i` (a digit). */
  private digits(from: number, numberStart: number): number {
    const s = this.src;
    let i = from;
    for (;;) {
      while (isDigit(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) !== UNDERSCORE) return i;
      if (!isDigit(s.charCodeAt(i + 1))) this.fail(numberStart, 'invalid underscore in number literal', 'bad number');
      i++;
    }
  }
}

/** Sets a member even when the key is `__proto__` (a plain assignment would change the prototype). */
function setMember(target: { [k: string]: PyValue }, key: string, value: PyValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

// ---------------------------------------------------------------------------------------------
// Writing values back in Python repr style.

/**
 * Python `repr()` of a value: `{'k': [1, 'a', True, None]}`. Strings are quoted and escaped as
 * Python does; integer-valued numbers are written as ints (see the module note), other numbers as
 * Python floats (`1e-05`). NaN and infinities are written `nan`/`inf`/`-inf` like Python's repr,
 * which parsePythonLiteral does not read back (they are not literals); everything else round-trips.
 */
export function toPythonRepr(value: PyValue): string {
  if (value === null) return 'None';
  switch (typeof value) {
    case 'string':
      return reprString(value);
    case 'number':
      return formatPyNumber(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'object':
      if (Array.isArray(value)) return `[${value.map(toPythonRepr).join(', ')}]`;
      return `{${Object.keys(value)
        .map((k) => `${reprString(k)}: ${toPythonRepr(value[k] as PyValue)}`)
        .join(', ')}}`;
  }
  throw new TypeError(`toPythonRepr: a ${typeof value} is not a Python literal value`);
}

/** A number as Python prints it: integer values as an int, others as a float. */
export function formatPyNumber(n: number): string {
  if (Number.isInteger(n) && !Object.is(n, -0)) return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
  return pyFloatRepr(n);
}

/** Python `repr(float(n))`: `3.0`, `0.1`, `1e-05`, `1e+16`, `nan`, `-inf`. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs < 1e-4 || abs >= 1e16) {
    const [mantissa = '', exponent = ''] = n.toExponential().split('e');
    const sign = exponent.startsWith('-') ? '-' : '+';
    return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  const text = String(n);
  return Number.isInteger(n) ? `${text}.0` : text;
}

const NEEDS_ESCAPE = /[\\'"\x00-\x1f\x7f]|[^\x00-\x7e]/;
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python `repr(str)`: single quotes unless the text has a `'` and no `"`. */
export function reprString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `'${text}'`;
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${hex(code, 2)}`;
    else if (code <= 0xffff) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out + quote;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}
