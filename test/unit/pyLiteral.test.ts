import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parsePythonLiteral,
  PyLiteralError,
  pyFloatRepr,
  toPythonRepr,
  type PyValue,
} from '../../src/data/pyLiteral.js';

const META_LINE =
  "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra', 'price': 3.17, " +
  "'imUrl': 'http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg', " +
  "'related': {'also_bought': ['B00JHONN1S', 'B002BZX8Z6'], 'bought_together': ['B002BZX8Z6']}, " +
  "'salesRank': {'Toys & Games': 211836}, 'brand': 'Coxlures', " +
  "'categories': [['Sports & Outdoors', 'Other Sports', 'Dance'], ['Beauty', 'Makeup']], " +
  "'description': \"Mom's favourite: a \\\"tutu\\\" that's\\nfun\"}";

test('reads a realistic 2014 metadata line', () => {
  assert.deepEqual(parsePythonLiteral(META_LINE), {
    asin: '0000031852',
    title: 'Girls Ballet Tutu Zebra',
    price: 3.17,
    imUrl: 'http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg',
    related: { also_bought: ['B00JHONN1S', 'B002BZX8Z6'], bought_together: ['B002BZX8Z6'] },
    salesRank: { 'Toys & Games': 211836 },
    brand: 'Coxlures',
    categories: [
      ['Sports & Outdoors', 'Other Sports', 'Dance'],
      ['Beauty', 'Makeup'],
    ],
    description: 'Mom\'s favourite: a "tutu" that\'s\nfun',
  });
});

test('reads nested structures, tuples, trailing commas and whitespace with newlines', () => {
  const text = "{\n  'a': [1, [2, [3, {'b': ()}]]],\n  'c': (1,),\n  'd': (4, 5, ),\n  'e': ('x'),\n  'f': {},\n}\n";
  assert.deepEqual(parsePythonLiteral(text), { a: [1, [2, [3, { b: [] }]]], c: [1], d: [4, 5], e: 'x', f: {} });
  assert.deepEqual(parsePythonLiteral('[ ]'), []);
  assert.deepEqual(parsePythonLiteral('[[],[[]],]'), [[], [[]]]);
});

test('number keys become their Python str()', () => {
  assert.deepEqual(parsePythonLiteral("{1: 'a', -2: 'b', 1.5e3: 'c', 0x1F: 'd', 99999999999999999999: 'e'}"), {
    '1': 'a',
    '-2': 'b',
    '1500.0': 'c',
    '31': 'd',
    '99999999999999999999': 'e',
  });
});

test('a __proto__ key is stored as data, not as the prototype', () => {
  const value = parsePythonLiteral("{'__proto__': {'polluted': True}}") as Record<string, PyValue>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.deepEqual(Object.keys(value), ['__proto__']);
  assert.equal((value as { polluted?: unknown }).polluted, undefined);
  assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: true });
});

test('decodes every Python escape kind', () => {
  const cases: [string, string][] = [
    ["'\\n\\t\\r'", '\n\t\r'],
    ["'\\\\'", '\\'],
    ["'\\''", "'"],
    ["'\\\"'", '"'],
    ['"\\\'"', "'"],
    ["'\\a\\b\\f\\v'", '\x07\b\f\v'],
    ["'\\0'", '\0'],
    ["'\\7\\12\\101'", '\x07\nA'],
    ["'\\1234'", 'S4'], // at most three octal digits
    ["'\\777'", '\u01ff'],
    ["'\\x41\\xe9'", 'Aé'],
    ["'\\u00e9\\u20AC'", 'é€'],
    ["'\\U0001F600'", '😀'],
    ["'a\\\nb'", 'ab'], // backslash-newline continues the line
    ["'a\\\r\nb'", 'ab'],
    ["'\\d\\w\\8'", '\\d\\w\\8'], // unknown escapes keep their backslash
  ];
  for (const [source, expected] of cases) assert.equal(parsePythonLiteral(source), expected, source);
});

test('string prefixes: u is plain, r keeps backslashes', () => {
  assert.equal(parsePythonLiteral("u'caf\\xe9'"), 'café');
  assert.equal(parsePythonLiteral("U\"x\""), 'x');
  assert.equal(parsePythonLiteral("r'a\\nb\\''"), "a\\nb\\'");
  assert.equal(parsePythonLiteral("R'\\x41'"), '\\x41');
});

test('triple-quoted strings span lines and hold lone quotes', () => {
  assert.equal(parsePythonLiteral("'''it's \"x\"\nline 2'''"), 'it\'s "x"\nline 2');
  assert.equal(parsePythonLiteral('"""a""b\\"""c"""'), 'a""b"""c');
  assert.equal(parsePythonLiteral("''''''"), '');
  assert.equal(parsePythonLiteral("'''a\r\nb'''"), 'a\nb'); // source newlines read as \n, as Python does
});

test('adjacent string literals concatenate', () => {
  assert.equal(parsePythonLiteral("'a' \"b\" u'c' r'\\d'"), 'abc\\d');
  assert.deepEqual(parsePythonLiteral("['x'\n   'y', 'z']"), ['xy', 'z']);
  assert.deepEqual(parsePythonLiteral("{'k' 'ey': 'v' 'al'}"), { key: 'val' });
});

test('reads ints and floats with signs, underscores and exponents', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['-7', -7],
    ['+7', 7],
    ['- 7', -7],
    ['1_000_000', 1000000],
    ['00', 0],
    ['3.17', 3.17],
    ['1.', 1],
    ['.5', 0.5],
    ['-.5', -0.5],
    ['1e-3', 0.001],
    ['1E+3', 1000],
    ['-2.5e-7', -2.5e-7],
    ['1_0.0_1e1_0', 10.01e10],
    ['0x1F', 31],
    ['0o17', 15],
    ['0b101', 5],
    ['0x_ff', 255],
  ];
  for (const [source, expected] of cases) assert.equal(parsePythonLiteral(source), expected, source);
  assert.ok(Object.is(parsePythonLiteral('-0.0'), -0));
  assert.ok(Object.is(parsePythonLiteral('-0'), 0)); // an int has no negative zero
});

test('reads True, False and None', () => {
  assert.deepEqual(parsePythonLiteral('[True, False, None]'), [true, false, null]);
  assert.deepEqual(parsePythonLiteral("{'title': None}"), { title: null });
});

function assertRejects(source: string, message: RegExp, column?: number): void {
  assert.throws(
    () => parsePythonLiteral(source),
    (error: unknown) => {
      assert.ok(error instanceof PyLiteralError, `expected a PyLiteralError for ${source}`);
      assert.match(error.message, message);
      if (column !== undefined) {
        assert.equal(error.column, column);
        assert.match(error.message, new RegExp(`column ${column}\\b`));
      }
      return true;
    },
  );
}

test('rejects code and names with the column of the offending token', () => {
  assertRejects("__import__('os').system('x')", /^unexpected name '__import__' at column 1: only Python literals are allowed$/, 1);
  assertRejects('lambda: 1', /unexpected name 'lambda' at column 1/, 1);
  assertRejects("{'a': open('f')}", /unexpected name 'open' at column 7/, 7);
  assertRejects("{'a': 1} + {}", /unexpected '\+' at column 10: only Python literals are allowed/, 10);
  assertRejects("{'a': 1}.keys()", /unexpected '\.' at column 9/, 9);
  assertRejects("[1, 2 * 3]", /unexpected '\*' at column 7/, 7);
  assertRejects('nan', /unexpected name 'nan'/, 1);
  assertRejects('[inf]', /unexpected name 'inf'/, 2);
  assertRejects('true', /unexpected name 'true'/, 1);
  assertRejects('--1', /unary '-' is only allowed before a number/, 2);
  assertRejects("-'a'", /unary '-'/, 2);
  assertRejects('1 # comment', /unexpected '#' at column 3/, 3);
});

test('rejects unterminated strings, naming where the string starts', () => {
  assertRejects("{'title': 'abc}", /^unterminated string at column 11/, 11);
  assertRejects("'abc\ndef'", /unterminated string at column 1/, 1);
  assertRejects("'''abc''", /unterminated string at column 1/, 1);
  assertRejects("r'abc\\'", /unterminated string at column 1/, 1);
  assertRejects("'abc\\", /unterminated string at column 1/, 1);
});

test('rejects sets, bytes, f-strings, complex numbers and malformed numbers', () => {
  assertRejects('{1, 2}', /set literals are not supported/, 1);
  assertRejects("[b'x']", /bytes literal at column 2/, 2);
  assertRejects("f'{x}'", /f-string at column 1/, 1);
  assertRejects('1j', /complex number/, 1);
  assertRejects('012', /leading zeros/, 1);
  assertRejects('1__0', /underscore/, 1);
  assertRejects('1_', /underscore/, 1);
  assertRejects('1e', /exponent/, 1);
  assertRejects('0x', /invalid number literal/, 1);
  assertRejects('0b12', /invalid number literal/, 1);
  assertRejects('1abc', /invalid number literal/, 1);
  assertRejects("'\\x4'", /truncated \\x escape/, 2);
  assertRejects("'\\N{BULLET}'", /\\N\{\.\.\.\} named escapes are not supported/, 2);
  assertRejects("{(1, 2): 'a'}", /unsupported dict key \[1, 2\] at column 2/, 2);
  assertRejects("{None: 'a'}", /unsupported dict key None/, 2);
});

test('rejects structural errors with what was expected', () => {
  assertRejects('[1 2]', /unexpected '2' at column 4: expected ',' or '\]' in a list/, 4);
  assertRejects("{'a' 1}", /expected ':' after a dict key/, 6);
  assertRejects("{'a': 1", /unexpected end of input at column 8/, 8);
  assertRejects('', /unexpected end of input at column 1/, 1);
  assertRejects('[1,,]', /unexpected ',' at column 4/, 4);
  assertRejects('[1]]', /unexpected '\]' at column 4/, 4);
});

test('reports line and column for multi-line input', () => {
  assert.throws(
    () => parsePythonLiteral("{\n  'a': 1,\n  'b': foo,\n}"),
    (error: unknown) =>
      error instanceof PyLiteralError &&
      error.line === 3 &&
      error.column === 8 &&
      /^unexpected name 'foo' at line 3, column 8:/.test(error.message),
  );
});

test('guards nesting depth', () => {
  const ok = '['.repeat(200) + ']'.repeat(200);
  assert.equal(JSON.stringify(parsePythonLiteral(ok)), ok);
  assertRejects('['.repeat(201) + ']'.repeat(201), /nesting deeper than 200 levels at column 201/, 201);
  const dicts = "{'a': ".repeat(11) + '1' + '}'.repeat(11);
  assert.equal(toPythonRepr(parsePythonLiteral(dicts, { maxDepth: 11 })), dicts);
  assert.throws(() => parsePythonLiteral(dicts, { maxDepth: 10 }), /nesting deeper than 10 levels at column 61/);
  assert.throws(() => parsePythonLiteral('(((1)))', { maxDepth: 2 }), /nesting deeper than 2 levels/);
});

test('toPythonRepr writes what Python repr writes', () => {
  assert.equal(
    toPythonRepr({ asin: 'B01', n: [1, 2.5, -3, true, false, null], d: {}, l: [] }),
    "{'asin': 'B01', 'n': [1, 2.5, -3, True, False, None], 'd': {}, 'l': []}",
  );
  assert.equal(toPythonRepr("it's"), '"it\'s"');
  assert.equal(toPythonRepr('say "hi"'), '\'say "hi"\'');
  assert.equal(toPythonRepr('it\'s "x"'), "'it\\'s \"x\"'");
  assert.equal(toPythonRepr('a\\b\n\t\r\x00\x07\x7f'), "'a\\\\b\\n\\t\\r\\x00\\x07\\x7f'");
  assert.equal(toPythonRepr('é€😀'), "'é€😀'"); // printable non-ASCII stays as is
  assert.equal(toPythonRepr('\xa0\xad\u200b\u2028\ufeff\u{e0001}'), "'\\xa0\\xad\\u200b\\u2028\\ufeff\\U000e0001'");
  assert.equal(toPythonRepr('\ud800'), "'\\ud800'");
  assert.equal(toPythonRepr(1e-5), '1e-05');
  assert.equal(toPythonRepr(0.0001), '0.0001');
  assert.equal(toPythonRepr(2 ** 60), '1152921504606846976');
  assert.equal(toPythonRepr(NaN), 'nan');
  assert.equal(toPythonRepr(-Infinity), '-inf');
});

test('pyFloatRepr formats a number as a Python float', () => {
  assert.equal(pyFloatRepr(3), '3.0');
  assert.equal(pyFloatRepr(3.17), '3.17');
  assert.equal(pyFloatRepr(-0), '-0.0');
  assert.equal(pyFloatRepr(1e16), '1e+16');
  assert.equal(pyFloatRepr(1.5e-7), '1.5e-07');
  assert.equal(pyFloatRepr(123456789.5), '123456789.5');
});

/** Deterministic pseudo-random values (mulberry32), so a failure reproduces. */
function randomValues(seed: number, count: number): PyValue[] {
  let state = seed >>> 0;
  const rand = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const pieces = ['a', 'Z', ' ', "'", '"', '\\', '\n', '\r', '\t', '\0', '\x1b', '\x7f', 'é', '€', '😀', '\xa0', '\u2028', '{', ']', ',', ':', '#'];
  const str = (): string => Array.from({ length: Math.floor(rand() * 10) }, () => pick(pieces)).join('');
  const num = (): number =>
    pick([
      () => Math.floor(rand() * 2e9) - 1e9,
      () => (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20),
      () => pick([0, -0, 0.1, 1e-5, 2 ** 53, -(2 ** 60), 5e-324, 1.7976931348623157e308]),
    ])();
  const value = (depth: number): PyValue => {
    const r = rand();
    if (depth > 3 || r < 0.35) return str();
    if (r < 0.55) return num();
    if (r < 0.62) return pick([true, false, null]);
    if (r < 0.8) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const obj: { [k: string]: PyValue } = {};
    for (let i = Math.floor(rand() * 4); i > 0; i--) obj[str()] = value(depth + 1);
    return obj;
  };
  return Array.from({ length: count }, () => value(0));
}

test('toPythonRepr round-trips through parsePythonLiteral', () => {
  for (const value of randomValues(20240611, 2000)) {
    const text = toPythonRepr(value);
    assert.deepEqual(parsePythonLiteral(text), value, text);
  }
});
