"""Outcomes and research (SPEC §11.4): micro-randomised decisions, proximal outcomes, estimates.

`models.DecisionRecord` keeps one row per randomised rule at each decision where its condition
held (fired, randomised out or ineligible, with the probability and the draw), written by the
evaluation pipeline (`record.write_records`); `proximal` fills in the steps that followed once
the window has closed; `estimate` fits the weighted, centred regression of the MRT literature;
`programme` counts a clinic's own programme outcomes.
"""
