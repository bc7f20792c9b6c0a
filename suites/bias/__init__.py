"""The bias suite: CrowS-Pairs, WinoBias, BBQ, template probes, counterfactual swaps and group fairness."""
