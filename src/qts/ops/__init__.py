"""Operations around a run: health, metrics, alerts, backups."""
