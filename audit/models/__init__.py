"""Everything about models: one ModelResolver (resolve.py), the adapters that alone call models, compressed variants, training of derived models, and the factory suites ask for models."""
