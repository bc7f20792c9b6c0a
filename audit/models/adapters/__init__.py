"""Model adapters: the only code that runs model objects; batched, length-sorted, cached capabilities."""
