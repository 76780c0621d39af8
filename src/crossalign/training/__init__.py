"""Training: typed recipe configs, the alignment Trainer, and the stage runner behind `crossalign train`."""
