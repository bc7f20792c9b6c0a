"""Privacy suite: membership inference, DP-SGD fine-tuning with its audit, canary exposure."""
