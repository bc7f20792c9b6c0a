"""The accuracy suite: classifier metrics (accuracy, macro-F1, ECE) on local labelled data and
lm-eval multiple-choice tasks for causal LMs, all through the model adapter.

Modules: config (the YAML block), labelled (reading + label mapping), metrics (pure functions),
classification (one dataset), lm_eval_bridge / lm_eval_part (lm-eval), tasks/ (shipped tasks),
views (report views), suite (the Suite class).
"""
