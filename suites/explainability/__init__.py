"""Explainability suite: SHAP, LIME, attention rollout, integrated gradients and leave-one-out occlusion
over the model tokenizer's tokens, with faithfulness, agreement and stability scores."""
