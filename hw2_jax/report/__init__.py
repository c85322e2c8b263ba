"""The report (`python -m hw2_jax report`): the homework's tables and figures rebuilt from the
committed results, with confidence intervals and paired tests.

stats.py (t interval, sign-flip test), load.py (reading and checking the result files);
Question 1.1: padding.py (the numbers), padding_claims.py (the claims' verdicts),
padding_tables.py, padding_figure.py, padding_section.py (its text); Question 1.2: rotation.py;
Question 2.7: gpt.py (the numbers), gpt_figures.py, gpt_section.py (its text); build.py (reads,
renders and writes the files as one unit), config.py, cli.py; anchors.json (published numbers,
with sources) and sources.json (each result's command and machine).
"""
