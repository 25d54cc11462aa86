# Solution non traduite : copie de notebooks/solutions/poor_team_vote.py, générée par docs/make_french_edition.py.
# A worked prediction, written BEFORE the vote is scored. Reasoning: kNN is clearly the best member and the
# other three are weaker; wherever kNN is right but two of the weak ones agree on the same wrong label, the
# majority overrules kNN. Expect the vote to land between the members' average and kNN's accuracy.
member_acc = np.array(list(poor_member_accuracy.values()))
prediction = float((member_acc.mean() + member_acc.max()) / 2)
predict("poor_team_vote", prediction)
