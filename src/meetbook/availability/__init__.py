"""Availability: working hours, free slots, team booking policy, the calendar feed."""
