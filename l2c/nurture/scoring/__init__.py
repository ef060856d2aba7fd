"""Lead scoring: rule score (fit + decaying engagement), a predictive model trained on the company's own
converted vs disqualified leads, and the factors that explain each lead's score in plain words.

engine: the arithmetic (no I/O); services: rule writes, batch and single re-scoring; model: training.
"""
