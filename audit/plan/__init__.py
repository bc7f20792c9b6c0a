"""Cost plans: what a config will ask of each model, and how long it will take on this machine."""
