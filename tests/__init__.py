"""The test suite: unit tests per module, contract and planted-defect tests, end-to-end runs on real small models."""
