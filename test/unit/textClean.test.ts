import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanBrand,
  cleanText,
  cleanTitle,
  htmlUnescape,
  joinCategories,
  pyStrip,
} from '../../src/data/textClean.js';

test('a string is stripped, unescaped, untagged, unquoted and ends in one dot', () => {
  assert.equal(cleanText('  Girls Ballet Tutu  '), 'Girls Ballet Tutu.');
  assert.equal(cleanText('Ben &amp; Jerry&#39;s'), "Ben & Jerry's.");
  assert.equal(cleanText('<b>Bold</b> and <a href="x">link</a>'), 'Bold and link.');
  assert.equal(cleanText('The "best"\r\nlip balm'), 'The bestlip balm.');
  assert.equal(cleanText('&lt;i&gt;escaped tag&lt;/i&gt;'), 'escaped tag.'); // unescape runs before the tag strip
  assert.equal(cleanText('a < b and c > d'), 'a < b and c > d.'); // "< b" is not a tag: \w must follow "<"
});

test('a string is stripped before cleaning, so space left by a removed tag stays', () => {
  assert.equal(cleanText('Lipstick <br>'), 'Lipstick .');
  assert.equal(cleanText('"Quoted"  '), 'Quoted.');
});

test('trailing dots collapse to exactly one', () => {
  assert.equal(cleanText('Nail polish...'), 'Nail polish.');
  assert.equal(cleanText('Nail polish.'), 'Nail polish.');
  assert.equal(cleanText('No dot'), 'No dot.');
  assert.equal(cleanText('Dr. Scholl'), 'Dr. Scholl.');
  assert.equal(cleanText(''), '.');
  assert.equal(cleanText('...'), '..'); // official quirk: the first character is never dropped
});

test('a list is cleaned element by element and joined with single spaces', () => {
  assert.equal(
    cleanText(['  First &amp; best.  ', '<p>Second</p>', 'Line one\nline two', '"Quoted"']),
    'First & best. Second Line oneline two Quoted.',
  );
  assert.equal(cleanText([]), '.');
  assert.equal(cleanText(['', '']), ' .'); // empty units still get their separator, as in Python
  assert.equal(cleanText(['Ends with dots...', '...']), 'Ends with dots... .');
});

test('a dict becomes its Python str() without braces', () => {
  assert.equal(cleanText({ 'Toys & Games': 211836 }), "'Toys & Games': 211836.");
  assert.equal(cleanText({ a: [1, 2.5], b: null, c: true }), "'a': [1, 2.5], 'b': None, 'c': True.");
  assert.equal(cleanText({ q: 'say "hi"' }), "'q': 'say hi'."); // quotes stripped after str()
  assert.equal(cleanText({}), '.');
});

test('text of 2000 or more code points becomes empty', () => {
  assert.equal(cleanText('x'.repeat(1998)), `${'x'.repeat(1998)}.`);
  assert.equal(cleanText('x'.repeat(1999)), '');
  assert.equal(cleanText(`${'x'.repeat(1998)}......`), `${'x'.repeat(1998)}.`); // dots collapse first
  assert.equal(cleanText('😀'.repeat(1998)), `${'😀'.repeat(1998)}.`); // 3997 UTF-16 units, 1999 code points
  assert.equal(cleanText('😀'.repeat(1999)), '');
  assert.equal(cleanText(['x'.repeat(1000), 'y'.repeat(999)]), '');
});

test('missing input reads as empty', () => {
  assert.equal(cleanText(undefined), '.');
  assert.equal(cleanText(null), '.');
});

test('cleanTitle keeps a missing title detectable', () => {
  assert.equal(cleanTitle(undefined), '');
  assert.equal(cleanTitle(null), '');
  assert.equal(cleanTitle('   '), '');
  assert.equal(cleanTitle('""'), '');
  assert.equal(cleanTitle('OPI Nail Lacquer &amp; Top Coat'), 'OPI Nail Lacquer & Top Coat.');
  assert.equal(cleanTitle('Fresh...'), 'Fresh.');
});

test('cleanBrand drops the 2018 "by" prefix, decodes entities, adds no dot', () => {
  assert.equal(cleanBrand('by\n    \n    Microsoft'), 'Microsoft');
  assert.equal(cleanBrand('by\nSomeBrand'), 'SomeBrand');
  assert.equal(cleanBrand('by Fender'), 'Fender');
  assert.equal(cleanBrand("Dr. Scholl&#39;s"), "Dr. Scholl's");
  assert.equal(cleanBrand('  Lord &amp; Taylor  '), 'Lord & Taylor');
  assert.equal(cleanBrand('Baby Bliss'), 'Baby Bliss');
  assert.equal(cleanBrand(''), '');
  assert.equal(cleanBrand(undefined), '');
});

test('joinCategories: 2018 flat lists stop at </span> debris', () => {
  assert.equal(joinCategories(['Gift Cards', 'Gift Cards', '</span></span></span>']), 'Gift Cards,Gift Cards');
  assert.equal(
    joinCategories(['Musical Instruments', ' Guitar &amp; Bass ', '<span class="a">x</span>', 'Strings']),
    'Musical Instruments,Guitar & Bass',
  );
  assert.equal(joinCategories(['</span>', 'Later']), '');
});

test('joinCategories: 2014 list of lists uses the first path', () => {
  assert.equal(
    joinCategories([
      ['Beauty', 'Makeup', 'Nails', 'Nail Polish'],
      ['Beauty', 'Skin Care'],
    ]),
    'Beauty,Makeup,Nails,Nail Polish',
  );
  assert.equal(joinCategories([['Beauty', 'Skin Care', 'Creams &amp; Moisturizers']]), 'Beauty,Skin Care,Creams & Moisturizers');
});

test('joinCategories: a joined string is trimmed and decoded but not re-split', () => {
  assert.equal(joinCategories(' Arts, Crafts &amp; Sewing,Painting '), 'Arts, Crafts & Sewing,Painting');
  assert.equal(joinCategories(undefined), '');
  assert.equal(joinCategories([]), '');
});

test('htmlUnescape follows Python html.unescape, including its odd corners', () => {
  assert.equal(htmlUnescape('&amp;&lt;&gt;&quot;&#39;&#x27;&nbsp;'), '&<>"\'\'\xa0');
  assert.equal(htmlUnescape('&ampx &notit; &notin;'), '&x ¬it; ∉'); // legacy names without ';' by prefix
  assert.equal(htmlUnescape('&bogus; & &#;'), '&bogus; & &#;');
  assert.equal(htmlUnescape('&#128;&#x93;&#x94;'), '€“”'); // C1 references read as Windows-1252
  assert.equal(htmlUnescape('&#0;&#55296;&#1114112;'), '\ufffd\ufffd\ufffd');
  assert.equal(htmlUnescape('a&#1;b&#xFFFE;c&#x7f;d'), 'abcd'); // Python drops these code points
  assert.equal(htmlUnescape('&amp;lt;'), '&lt;'); // decoded once, not twice
});

test('pyStrip uses Python whitespace, not JS trim', () => {
  assert.equal(pyStrip('\x1c\x85\xa0\u3000 a b \t\n'), 'a b');
  assert.equal(pyStrip('\ufeffa\ufeff'), '\ufeffa\ufeff');
});
