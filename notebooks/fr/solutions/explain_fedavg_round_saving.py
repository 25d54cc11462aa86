# Solution non traduite : copie de notebooks/solutions/explain_fedavg_round_saving.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 03_federated_learning, exercise fedavg_round_saving (instructors' guide,
# docs/instructors.md). Rounds are counted, not timed, so they do not depend on the CPUs, and the full demo sizes
# (2 CPUs, default) and PLSIM_SMALL=1 (Binder) give the same tuned rounds below (the small grids are narrower).
explanation = """
Each at its own tuned learning rate, FedSGD needed 50 rounds (lr 3) and FedAvg E=5 needed 6 (lr 0.5): 8.3x fewer
rounds (and bytes), although an E=5 round does 5 x 30 = 150 local steps per client. Local steps do not convert
one-for-one into saved rounds: after the first few, a client's model already fits its own 300 samples, so later
steps add less, and every client starts each round from the same global model, so the round's progress is the
average of updates that partly repeat each other. FedSGD, tuned, takes big steps (lr 3, against 0.5 for FedAvg),
so it is a strong baseline, not FedSGD at FedAvg's small rate. The table supports this: FedAvg E=20 (600 local
steps) needs the same 6 rounds as E=5, so four times more local work saves nothing more, and both tuned rates
lie inside their grids (a slower rate on each side), so the ratio is not an artefact of the grid. On IID clients
local work still pays; on the non-IID shards of section 3 client drift shrinks the saving, or reverses it.
"""
