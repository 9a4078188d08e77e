"""tap-cohorts: a Singer tap for mobile marketing cohort analytics."""
