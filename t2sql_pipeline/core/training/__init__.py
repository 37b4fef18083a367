"""Training: base models (hub, local, GGUF), tokenization, hardware plan, LoRA/QLoRA fine-tuning, launch and checkpoints."""
