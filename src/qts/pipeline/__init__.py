"""ETEDA: Extract → Transform → Evaluate → Decide → Act, one immutable contract between stages."""
