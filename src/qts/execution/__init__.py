"""Order management: persists intents, talks to the broker, books fills."""
