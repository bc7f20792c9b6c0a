"""Running an audit: the runner, the suite contract and its context, the registry, provenance and the executors."""
