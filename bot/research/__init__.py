"""Research: engagement figures, plots, de-identified export, reports, demo data, log review."""
