"""Data: parallel corpora, instruction data, the contamination guard, tokenization with span masks, collators."""
