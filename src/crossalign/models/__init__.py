"""Causal LMs in and out, one module a concern: `loading` (Hub id, folder, `.gguf`, LoRA adapter, `gemma-3-270m`
and their tokenizers), `embedded` (the embedded Gemma 3 270M), `tokenizer` (padding, BOS),
`attention` (which kernel), `lora` (LoRA, activation checkpointing, unwrapping), `saving` (atomic save and merge),
`info` (what a model is). The names below are the package's API; `crossalign merge` is `crossalign.merge_cli`."""

from crossalign.models.attention import ATTN_IMPLEMENTATIONS, resolve_attn_implementation
from crossalign.models.embedded import EMBEDDED_ALIASES, EMBEDDED_NAME, cache_dir, embedded_model_dir
from crossalign.models.info import model_info
from crossalign.models.loading import is_model_folder, load_model_and_tokenizer, load_tokenizer
from crossalign.models.lora import apply_lora, enable_gradient_checkpointing, unwrap
from crossalign.models.saving import merge_adapter, save_lm, save_model
from crossalign.models.tokenizer import BOS_MODEL_TYPES, check_bos, prepare_tokenizer

__all__ = ["ATTN_IMPLEMENTATIONS", "BOS_MODEL_TYPES", "EMBEDDED_ALIASES", "EMBEDDED_NAME", "apply_lora", "cache_dir",
           "check_bos", "embedded_model_dir", "enable_gradient_checkpointing", "is_model_folder", "load_model_and_tokenizer",
           "load_tokenizer", "merge_adapter", "model_info", "prepare_tokenizer", "resolve_attn_implementation", "save_lm",
           "save_model", "unwrap"]
