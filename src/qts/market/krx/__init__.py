"""KRX rules as dated configuration data: ticks, limits, sessions, calendar, fees, VI."""
