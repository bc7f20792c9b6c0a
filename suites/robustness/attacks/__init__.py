"""Query-budgeted adversarial attacks on classifiers: word level (TextFooler-style) and character
level (DeepWordBug-style), sharing one greedy search (search.py) and one runner (run.py)."""
