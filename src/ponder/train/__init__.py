"""Training of the embedded models: tokenizer and trainer."""
