"""`crossalign merge ADAPTER_DIR OUTPUT_DIR`: a LoRA adapter merged into its base model, saved as a plain
transformers folder (`crossalign.models.merge_adapter`)."""

from __future__ import annotations

from crossalign.models import merge_adapter


def add_arguments(parser) -> None:
    parser.add_argument("adapter_dir", metavar="ADAPTER_DIR", help="LoRA adapter folder (has adapter_config.json)")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="where to write the merged model (save_pretrained)")
    parser.add_argument("--base-model", metavar="NAME", default=None,
                        help="base model (Hub id, folder, .gguf, gemma-3-270m); default: the one the adapter records")
    parser.add_argument("--dtype", default="float32", help="dtype to merge and save in (default float32)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it is not empty")


def run(args) -> int:
    out = merge_adapter(args.adapter_dir, args.output_dir, base_model=args.base_model,
                        overwrite=args.overwrite, dtype=args.dtype)
    print(f"merged {args.adapter_dir} into its base model: {out}")
    return 0
