"""Clock, ids, errors and time helpers shared by every layer."""
