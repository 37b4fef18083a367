"""xgrammar vs llguidance on the pipeline's schema grammars: compile time per database, mask time per token.

Three arms, one dialect: xgrammar on its GBNF form (`core.sql.schema_grammar.schema_grammar`, as vLLM's
default backend takes it), llguidance on the same GBNF text (converted by llguidance, character-level
rules) and llguidance on the Lark form the pipeline decodes with (`schema_lark`: names and keywords as
lexemes, the pipeline's parser limits). Each arm gets the grammar of each Spider dev database and the
same token streams: the gold SQL of Spider dev questions, tokenized by the model's tokenizer and
ended by its end-of-turn token. Per token an engine computes the allowed-token bitmask and accepts the
token, which is what a logits processor does at each decoding step; a gold token the engine masks
out is counted (it would mean the engine and the grammar disagree). Compile time is measured with
each engine's cache off, first mask included (llguidance compiles lazily).

    python benchmarks/constrained_decoding_engines.py [--model DIR] [--questions 200] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from t2sql_pipeline.core.sql.schema_grammar import SchemaNames, lark_grammar_limits, schema_grammar, schema_lark

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / ".state/models/converted/SmolLM2-135M-Instruct.Q4_1-b179c9523d0e"


def _questions(data: Path, limit: int) -> tuple[dict[str, SchemaNames], list[dict]]:
    spider = data / "spider-dev"
    schemas = {e["db_id"]: SchemaNames.from_tables_entry(e) for e in json.loads((spider / "tables.json").read_text())}
    questions = [q for q in json.loads((spider / "dev.json").read_text()) if (spider / "database" / q["db_id"]).is_dir()]
    step = max(1, len(questions) // limit)  # spread over every database, not the first few
    return schemas, questions[::step][:limit]


class XGrammarEngine:
    name = "xgrammar, GBNF"
    grammar = staticmethod(schema_grammar)

    def __init__(self, tokenizer, vocab_size: int) -> None:
        import xgrammar

        self._xg = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=[tokenizer.eos_token_id])
        self._compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)
        self._mask = xgrammar.allocate_token_bitmask(1, vocab_size)

    def compile(self, text: str):
        return self._compiler.compile_grammar(text)

    def matcher(self, compiled):
        return self._xg.GrammarMatcher(compiled)

    def step(self, matcher, token: int) -> bool:
        matcher.fill_next_token_bitmask(self._mask, 0)
        allowed = bool((self._mask[0, token // 32] >> (token % 32)) & 1)
        return allowed and matcher.accept_token(token)


class LLGuidanceEngine:
    name = "llguidance, GBNF"
    grammar = staticmethod(schema_grammar)
    form = "gbnf"
    limits = None

    def __init__(self, tokenizer, vocab_size: int) -> None:
        import llguidance
        import llguidance.hf
        import llguidance.torch

        self._ll = llguidance
        self._fill = llguidance.torch.fill_next_token_bitmask
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self._mask = llguidance.torch.allocate_token_bitmask(1, vocab_size)

    def compile(self, text: str):
        return self._ll.grammar_from(self.form, text)

    def matcher(self, compiled):
        matcher = self._ll.LLMatcher(self._tokenizer, compiled, limits=self.limits() if self.limits else None, log_level=0)
        if matcher.is_error():
            raise RuntimeError(f"llguidance: {matcher.get_error()}")
        return matcher

    def step(self, matcher, token: int) -> bool:
        self._fill(matcher, self._mask, 0)
        allowed = bool((self._mask[0, token // 32] >> (token % 32)) & 1)
        return allowed and matcher.consume_token(token)


class LLGuidanceLarkEngine(LLGuidanceEngine):
    name = "llguidance, Lark (used)"
    grammar = staticmethod(schema_lark)
    form = "lark"
    limits = staticmethod(lark_grammar_limits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a model folder with its tokenizer")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    from transformers import AutoConfig, AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    vocab_size = AutoConfig.from_pretrained(args.model).vocab_size
    schemas, questions = _questions(args.data, args.questions)
    streams = [(q["db_id"], tokenizer.encode(q["query"], add_special_tokens=False) + [tokenizer.eos_token_id]) for q in questions]
    databases = sorted({db for db, _ in streams})
    print(f"{platform.processor() or platform.machine()}, 1 thread; {len(streams)} Spider dev questions over {len(databases)} databases, "
          f"{sum(len(s) for _, s in streams)} tokens, vocabulary {vocab_size}")  # fmt: skip
    for engine in (XGrammarEngine(tokenizer, vocab_size), LLGuidanceEngine(tokenizer, vocab_size), LLGuidanceLarkEngine(tokenizer, vocab_size)):
        compile_s, compiled = [], {}
        for db in databases:
            started = time.perf_counter()
            compiled[db] = engine.compile(engine.grammar(schemas[db]))
            first = engine.matcher(compiled[db])
            engine.step(first, streams[[d for d, _ in streams].index(db)][1][0])  # the first mask: lazy engines compile here
            compile_s.append(time.perf_counter() - started)
        per_token, masked_out = [], 0
        for db, tokens in streams:
            matcher = engine.matcher(compiled[db])
            started = time.perf_counter()
            for token in tokens:
                if not engine.step(matcher, token):
                    masked_out += 1
                    break
            per_token.append((time.perf_counter() - started) / len(tokens))
        print(f"{engine.name:>24}: compile {statistics.median(compile_s) * 1e3:7.1f} ms median, {max(compile_s) * 1e3:7.1f} ms max per database; "
              f"mask+accept {statistics.mean(per_token) * 1e6:7.1f} us/token mean, {statistics.median(per_token) * 1e6:7.1f} us median; "
              f"gold streams stopped by a mask: {masked_out}")  # fmt: skip


if __name__ == "__main__":
    main()
