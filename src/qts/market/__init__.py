"""Market rules. Only KRX today."""
