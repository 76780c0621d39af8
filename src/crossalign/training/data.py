"""Turn a recipe's `data` section into tokenized training items, and pad them into batches.

An item may carry a translation pair for the contrastive loss (`x_input_ids`, `y_input_ids`) and an
instruction sequence for the LM loss (`input_ids`, `labels`, span masks, language ids). The two streams
have different lengths; item i takes pair i mod P and sequence i mod S, so an epoch covers the longer
stream once and the Trainer's sampler shuffles both.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from crossalign import languages
from crossalign.errors import CrossalignError, MissingLanguage
from crossalign.objectives.causal_lm import IGNORE_INDEX
from crossalign.training.config import DataConfig, ObjectiveConfig

log = logging.getLogger("crossalign")


@dataclass
class TrainingTexts:
    pairs: list  # list[ParallelCorpus]
    examples: list  # list[Example]
    dropped: dict[str, int]


def build_texts(data: DataConfig, objectives: ObjectiveConfig, seed: int, root: Path | None) -> TrainingTexts:
    """Read pairs and instructions (from the local data `root`, None: the Hub), apply the contamination guard
    and the per-language cap, build the instruction examples."""
    from crossalign.data.contamination import drop_contaminated, drop_contaminated_instructions, evaluation_texts
    from crossalign.data.instructions import cross_lingual_instructions, load_instructions, translation_instructions
    from crossalign.data.parallel import load_parallel
    from crossalign.data.sources import parse_spec
    from crossalign.evaluation import tasks  # noqa: F401  registers the tasks' texts with the contamination guard

    langs = languages.parse_list(data.languages)
    pivot = languages.normalize(data.pivot)
    if not langs:
        raise CrossalignError("data.languages is empty: list at least one language to align with the pivot")
    corpora = []
    for spec in data.parallel:
        source, split = parse_spec(spec)
        if len(data.parallel) == 1:
            corpora += load_parallel(source, langs, pivot=pivot, split=split, root=root, limit=None)
            continue
        # Several sources: each gives the languages it has (XStoryCloze has no German, Tatoeba has little
        # Swahili); only a language that no source has is an error.
        for lang in langs:
            try:
                corpora += load_parallel(source, [lang], pivot=pivot, split=split, root=root, limit=None)
            except MissingLanguage:
                log.info("%s has no %s pairs; using the other sources for it", source, lang)
    if data.parallel:
        found = {c.tgt_lang for c in corpora}
        lost = [lang for lang in langs if lang not in found]
        if lost:
            raise CrossalignError(f"no parallel data for {', '.join(lost)} in data.parallel={list(data.parallel)}; "
                                  "add a source that has it or remove it from data.languages")
    dropped: dict[str, int] = {}
    if data.exclude_eval_sets and corpora:
        if root is None:
            log.warning("contamination guard skipped: no local evaluation data (set --data-dir or CROSSALIGN_DATA)")
        else:
            corpora, dropped = drop_contaminated(corpora, evaluation_texts(root, tuple(data.exclude_eval_sets)))
    if data.max_pairs_per_language:
        corpora = cap_per_language(corpora, data.max_pairs_per_language, seed)
    examples = []
    if objectives.needs_sequences:
        records = []
        wanted = {pivot, *langs}
        for spec in data.instructions:
            records += load_instructions(spec, root, wanted, limit=data.max_instructions_per_language)
        if records and data.exclude_eval_sets and root is not None:
            records, dropped["instructions"] = drop_contaminated_instructions(
                records, evaluation_texts(root, tuple(data.exclude_eval_sets)))
        if records:
            examples += cross_lingual_instructions(records, p_switch=data.cross_lingual_p, seed=seed)
        if data.translation_instructions:
            examples += translation_instructions(corpora, template=data.translation_template, p_swap=data.p_swap, seed=seed,
                                                 join=data.translation_join)
    return TrainingTexts(pairs=corpora, examples=examples, dropped=dropped)


def cap_per_language(corpora: list, cap: int, seed: int) -> list:
    """At most `cap` pairs per language across all its corpora (not per corpus: two sources must not give a
    language twice the cap): a uniform sample of the language's pairs, deterministic in `seed`; each corpus
    keeps its sampled pairs, in order."""
    from crossalign.data.parallel import ParallelCorpus

    rng = random.Random(seed)
    by_lang: dict[str, list] = {}
    for c in corpora:
        by_lang.setdefault(c.tgt_lang, []).append(c)
    keep: dict[int, set[int]] = {}  # id(corpus) -> indices kept, for the languages over the cap
    for group in by_lang.values():
        sizes = [len(c) for c in group]
        if sum(sizes) <= cap:
            continue
        chosen = sorted(rng.sample(range(sum(sizes)), cap))
        start = 0
        for c, n in zip(group, sizes):
            keep[id(c)] = {i - start for i in chosen if start <= i < start + n}
            start += n
    out = []
    for c in corpora:
        if id(c) in keep:
            idx = sorted(keep[id(c)])
            c = ParallelCorpus(c.src_lang, c.tgt_lang, [c.src[i] for i in idx], [c.tgt[i] for i in idx], c.name)
        out.append(c)
    return out


class AlignmentDataset(Dataset):
    """Tokenized pairs and sequences, zipped (see module docstring). With `data.chat_template` (already set on the
    tokenizer, `chat.use_chat_template`) each sequence is rendered as a chat; pairs stay plain sentences, the
    text the contrastive loss pools and the analysis measures."""

    def __init__(self, texts: TrainingTexts, tokenizer, data: DataConfig, objectives: ObjectiveConfig):
        from crossalign.data.instructions import chat_example
        from crossalign.data.tokenize import SequenceTooLong, encode_example, encode_sentences

        want_pairs = objectives.needs_pairs
        want_seqs = objectives.needs_sequences
        want_spans = objectives.contrastive_input == "spans" or bool(objectives.language_matching_weight)
        self.lang_ids = {c: i for i, c in enumerate(sorted({languages.normalize(data.pivot), *languages.parse_list(data.languages)}))}
        self.pairs: list[tuple[list[int], list[int]]] = []
        if want_pairs:
            for corpus in texts.pairs:
                if not corpus.src:
                    continue  # emptied by the contamination guard or the per-language cap
                xs = encode_sentences(tokenizer, corpus.src, max_length=data.max_sentence_length)["input_ids"]
                ys = encode_sentences(tokenizer, corpus.tgt, max_length=data.max_sentence_length)["input_ids"]
                self.pairs += list(zip(xs, ys))
            if len(self.pairs) < 2:
                raise CrossalignError("the contrastive loss needs translation pairs, but the data gave fewer than 2; check data.parallel and data.languages")
        self.seqs: list[dict] = []
        self.too_long = 0
        if want_seqs:
            for ex in texts.examples:
                if want_spans and not (ex.src_text and ex.tgt_text):
                    continue  # spans exist only for translation sequences
                if data.chat_template != "none":
                    ex = chat_example(tokenizer, ex)
                try:
                    enc = encode_example(tokenizer, ex, max_length=data.max_length, mask_prompt=objectives.mask_prompt)
                except SequenceTooLong:
                    self.too_long += 1
                    continue
                if want_spans:
                    enc["src_lang"] = self.lang_ids.get(languages.normalize(ex.src_lang), -1)
                    enc["tgt_lang"] = self.lang_ids.get(languages.normalize(ex.tgt_lang), -1)
                self.seqs.append(enc)
            if self.too_long:
                log.warning("dropped %d sequences longer than data.max_length=%d", self.too_long, data.max_length)
            if not self.seqs:
                why = f"all {self.too_long} were longer than data.max_length={data.max_length}: raise it" if self.too_long else \
                    "set data.instructions or data.translation_instructions: true"
                raise CrossalignError(f"the LM/span objectives need instruction or translation sequences, but none were built; {why}")
        self.length = max(len(self.pairs), len(self.seqs))

    def __len__(self) -> int:
        return self.length

    def lengths(self) -> list[int]:
        """Each item's padded-cost proxy, for length-grouped batching: its sequence, else its longer pair side."""
        if self.seqs:
            return [len(self.seqs[i % len(self.seqs)]["input_ids"]) for i in range(self.length)]
        return [max(map(len, self.pairs[i % len(self.pairs)])) for i in range(self.length)]

    def __getitem__(self, i: int) -> dict:
        item: dict = {}
        if self.pairs:
            x, y = self.pairs[i % len(self.pairs)]
            item["x_input_ids"], item["y_input_ids"] = x, y
        if self.seqs:
            item.update(self.seqs[i % len(self.seqs)])
        return item


class AlignmentCollator:
    """Pads each field on the tokenizer's padding side; attention masks come from the lengths."""

    def __init__(self, tokenizer):
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.left = tokenizer.padding_side == "left"

    def _pad(self, seqs: list[list[int]], value: int, length: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        if not seqs:
            raise CrossalignError("empty batch: the data gave no items; check the data section")
        T = max(length, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), T), value, dtype=torch.long)
        mask = torch.zeros((len(seqs), T), dtype=torch.long)
        for r, s in enumerate(seqs):
            sl = slice(T - len(s), T) if self.left else slice(0, len(s))
            ids[r, sl] = torch.tensor(s, dtype=torch.long)
            mask[r, sl] = 1
        return ids, mask

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        first = items[0]
        if "x_input_ids" in first:
            # x and y share one length: the contrastive loss encodes them in a single forward.
            T = max(len(it[k]) for it in items for k in ("x_input_ids", "y_input_ids"))
            for side in ("x", "y"):
                batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"] = self._pad([it[f"{side}_input_ids"] for it in items], self.pad_id, T)
        if "input_ids" in first:
            batch["input_ids"], batch["attention_mask"] = self._pad([it["input_ids"] for it in items], self.pad_id)
            batch["labels"], _ = self._pad([it["labels"] for it in items], IGNORE_INDEX)
            for key in ("src_span", "tgt_span"):
                if key in first:
                    batch[key], _ = self._pad([it[key] for it in items], 0)
            for key in ("src_lang", "tgt_lang"):
                if key in first:
                    batch[key] = torch.tensor([it[key] for it in items], dtype=torch.long)
        return batch
