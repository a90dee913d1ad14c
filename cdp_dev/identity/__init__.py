"""Identity evaluation: accuracy against ground truth, the evaluation matrix and its
splink baseline."""
