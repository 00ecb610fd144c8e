// Tabular data and diagnosis metrics.
