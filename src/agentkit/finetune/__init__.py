"""Fine-tuning: LoRA training (TRL + PEFT), merging, model-eval, recipes for other trainers, GGUF export."""
