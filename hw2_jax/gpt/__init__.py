"""The micro-GPT: a character-level decoder-only transformer with rotary embeddings.

config.py (sizes and run settings), tokenizer.py, data.py (text, download, on-device
batches), model.py (the whole GPT), optimizer.py (AdamW with a weight-decay mask),
train.py (jitted step, logging, checkpoints, resume), generate.py (KV-cached decoding),
plot.py (training curves), cli.py (gpt-train, gpt-generate, gpt-plot).
"""
