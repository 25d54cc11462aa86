# Solution non traduite : copie de notebooks/solutions/most_different.py, générée par docs/make_french_edition.py.
answer = int(np.argmax(disagreement.sum(axis=1)))   # a member's disagreement with all the others
print("member", answer, "accuracy alone:", round(float(np.mean(member_predictions[answer] == y_test)), 3))
check("most_different", answer, disagreement=disagreement)
