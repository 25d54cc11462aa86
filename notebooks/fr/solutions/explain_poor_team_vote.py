# Solution non traduite : copie de notebooks/solutions/explain_poor_team_vote.py, générée par docs/make_french_edition.py.
# Model answer to the Explain cell of 02_ensembles, exercise poor_team_vote (instructors' guide, docs/instructors.md).
# The accuracies do not depend on the CPUs (same random_state, same models on any cluster), only on the demo
# sizes: the full sizes (2 CPUs, default) and PLSIM_SMALL=1 (Binder) give the two sets of numbers below.
explanation = """
The hard vote did not beat its best member, kNN: with the full sizes it scored 0.751 against kNN's 0.794
(Binder's small sizes: 0.667 against 0.767), above the three weak members but well below kNN. kNN is 11 to 15
points better than the next member, and a plain majority counts each of the three weaker votes as much as
kNN's: wherever kNN is right but the tree, logistic regression and naive Bayes agree on the same wrong label,
they outvote it. The paired comparison shows it: on far more test rows only kNN was right than only the vote
(71 against 32 of 900; small sizes 33 against 6 of 270). Their errors are only partly correlated (r about 0.4),
so the vote still lands above the weak members' average, but nowhere near enough to lift the team past kNN.

To make voting pay, the members must be of similar strength with mistakes that differ: replace the weak members
by stronger, different ones (e.g. the soft vote over kNN, SVM and MLP above), weight the votes by each member's
accuracy, or simply use kNN alone.
"""
