"""The data-analysis agent: summarises, charts and forecasts tabular files (`analyze`, `chart`, `predict`)."""
