# Solution non traduite : copie de notebooks/solutions/unseen_rows.py, générée par docs/make_french_edition.py.
answer = 1 - len(np.unique(parallel.estimators_samples_[0])) / len(X_train)
n = len(X_train)
print(f"member 0 never saw {answer:.3f} of the training rows; (1 - 1/n)^n = {(1 - 1 / n) ** n:.3f}")
check("unseen_rows", answer, model=parallel, X=X_train)
