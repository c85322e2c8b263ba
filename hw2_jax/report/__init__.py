"""The report (`python -m hw2_jax report`): the homework's tables and figures rebuilt from the
committed results, with confidence intervals and paired tests.

stats.py (t interval, sign-flip test), load.py (reading and checking the result files),
padding.py (Question 1.1), rotation.py (Question 1.2), gpt.py (Question 2.7), build.py (the
config and the writing), cli.py; anchors.json (published numbers, with sources) and
sources.json (each result's command and machine).
"""
