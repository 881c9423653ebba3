"""The stages of the scalp execution micro-pipeline (spec §2): PreCheck → OrderSplit → AsyncSend →
PartialFillMonitor → AdaptiveAdjust → EmergencyEscape, and the state machine that orders them."""
